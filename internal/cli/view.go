package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pipeline"
)

// A view renders what a deploying command (apply, destroy, release, rollback) has to say, in
// one output mode: it subscribes to the event stream and is handed the plan, the start of each
// operation and the results. Commands never look at the output mode themselves.
type view interface {
	// event renders one event of the stream.
	event(e fleet.Event)
	// plan renders the plan about to be applied.
	plan(p *fleet.Plan)
	// unchanged says that the plan changes nothing.
	unchanged(p *fleet.Plan)
	// confirm asks whether to apply the plan; in reports the answer.
	confirm(in io.Reader) bool
	// start announces a stack set's operation before it runs.
	start(sp fleet.StackSetPlan)
	// summary renders the results of the operations.
	summary(ops []fleet.Operation)
	// release announces a release about to run (new, or resumed).
	release(rel fleet.Release, spec fleet.Pipeline, resumed bool)
	// close ends the view's output: a live view draws its last frame.
	close()
}

// newView returns the view of the command's output mode: JSON records, the live terminal view,
// or the plain line log. names are the organization's account names by id (or nil), shown
// beside account ids where there is room.
func newView(g *globals, names map[string]string) view {
	switch {
	case g.json():
		return newJSONView(g.stdout)
	case g.live():
		return newTTYView(g, names)
	}
	return newTextView(g.stdout)
}

// show renders a command's result document (a JSON object): as JSON with "apiVersion" first,
// or as text by render.
func (g *globals) show(doc any, render func(io.Writer)) error {
	if g.json() {
		body, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if len(body) < 2 || body[0] != '{' {
			return fmt.Errorf("internal: a JSON document must be an object, not %.20s", body)
		}
		sep := ","
		if string(body) == "{}" {
			sep = ""
		}
		_, err = fmt.Fprintf(g.stdout, "{\"apiVersion\":%q%s%s\n", events.APIVersion, sep, body[1:])
		return err
	}
	render(g.stdout)
	return nil
}

// textView renders for people. Operation events: one line per failure as it happens, and per
// region a progress line (done / failed / running / pending) each time another tenth of the
// region finishes, then a summary table. Release events: one line each, leaving out instances
// starting and resource events that are not failures.
type textView struct {
	mu      sync.Mutex
	out     io.Writer
	regions map[laneKey]*regionCount
	order   []laneKey
	total   int
	begun   bool
	started time.Time
	// quietProgress leaves out the per-region progress lines (the live view draws bars).
	quietProgress bool
	planStyle     planStyle
}

// laneKey is one region of one stack set's operation.
type laneKey struct{ stackSet, region string }

type regionCount struct {
	total, running, succeeded, failed, cancelled int
	lastTenth                                    int
	printedDone                                  bool
}

func newTextView(out io.Writer) *textView {
	return &textView{out: out, regions: map[laneKey]*regionCount{}, started: time.Now()}
}

func (v *textView) plan(p *fleet.Plan) { renderPlan(v.out, p, false, v.planStyle) }

func (v *textView) unchanged(p *fleet.Plan) {
	fmt.Fprintf(v.out, "\nNo changes. %d instances are up to date.\n", p.Counts()[fleet.NoChange])
}

func (v *textView) confirm(in io.Reader) bool {
	fmt.Fprint(v.out, "\nApply this plan? Only 'yes' is accepted: ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(answer) == "yes"
}

// start registers the steps of an operation before it runs.
func (v *textView) start(sp fleet.StackSetPlan) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.begun {
		fmt.Fprintln(v.out)
		v.begun = true
	}
	for _, a := range sp.Actions {
		if a.Kind == fleet.NoChange {
			continue
		}
		rc := v.lane(laneKey{sp.Name, a.Target.Region})
		rc.total++
		v.total++
	}
}

func (v *textView) release(rel fleet.Release, spec fleet.Pipeline, resumed bool) {
	if !resumed {
		fmt.Fprintf(v.out, "Release %s of %s, version %s: %d stages\n", rel.ID, rel.Pipeline, rel.Version, len(spec.Stages))
	}
}

func (v *textView) close() {}

func (v *textView) event(ev fleet.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e := ev.(type) {
	case fleet.OperationEvent:
		v.operationEvent(e)
	case fleet.ReleaseEvent:
		v.releaseEvent(e)
	}
}

func (v *textView) operationEvent(e fleet.OperationEvent) {
	switch e.Kind {
	case fleet.EventOperation:
		switch e.Status {
		case "RESUMED":
			fmt.Fprintf(v.out, "%s: %s\n", e.StackSet, e.Reason)
		case string(fleet.OpRunning):
			fmt.Fprintf(v.out, "%s: operation %s running (%s)\n", e.StackSet, e.Operation, e.Reason)
		default:
			line := fmt.Sprintf("%s: operation %s %s", e.StackSet, e.Operation, e.Status)
			if e.Reason != "" {
				line += ": " + e.Reason
			}
			fmt.Fprintln(v.out, line)
		}
	case fleet.EventRegion:
		fmt.Fprintf(v.out, "%s: region %s STOPPED: %s; later regions are CANCELLED\n", e.StackSet, e.Target.Region, e.Reason)
	case fleet.EventStep:
		rc := v.lane(laneKey{e.StackSet, e.Target.Region})
		switch fleet.StepStatus(e.Status) {
		case fleet.StepRunning:
			rc.running++
		case fleet.StepSucceeded:
			rc.running--
			rc.succeeded++
		case fleet.StepFailed:
			rc.running--
			rc.failed++
			fmt.Fprintf(v.out, "  %s %s: %s\n", v.planStyle.color(fleet.Delete, "FAILED"), e.Target, e.Reason) // red on a terminal
		case fleet.StepCancelled:
			rc.cancelled++
		case fleet.StepPending:
			rc.running--
		}
		if rc.total == 0 || v.quietProgress {
			return
		}
		// A line each tenth of the region, printed as the next instance starts, so that it
		// shows as running what really is in flight; and a last line when the region is done.
		done := rc.succeeded + rc.failed + rc.cancelled
		tenth := done * 10 / rc.total
		if done == rc.total && !rc.printedDone || e.Status == string(fleet.StepRunning) && tenth > rc.lastTenth {
			rc.lastTenth, rc.printedDone = tenth, done == rc.total
			fmt.Fprintf(v.out, "  %-15s %s\n", e.Target.Region, rc.line())
		}
	}
}

func (v *textView) releaseEvent(e fleet.ReleaseEvent) {
	if e.Kind == fleet.EventStep && e.Status == string(fleet.StepRunning) ||
		e.Kind == fleet.EventResource && !strings.HasSuffix(e.Status, "_FAILED") {
		return
	}
	line := fmt.Sprintf("%s %-8s %-16s", e.Time.Local().Format("15:04:05"), e.Kind, e.Status)
	if e.Target != nil {
		line += " " + e.Target.String()
	}
	if e.Stack != "" {
		line += " " + e.Stack
		if e.LogicalID != "" {
			line += " " + e.LogicalID
		}
		if e.Reason != "" {
			line += ":"
		}
	}
	if e.Reason != "" {
		line += " " + e.Reason
	}
	fmt.Fprintln(v.out, strings.TrimRight(line, " "))
}

func (v *textView) lane(k laneKey) *regionCount {
	rc := v.regions[k]
	if rc == nil {
		rc = &regionCount{}
		v.regions[k] = rc
		v.order = append(v.order, k)
	}
	return rc
}

// line is the region's progress: every instance is in exactly one of the counts.
func (rc *regionCount) line() string {
	pending := max(rc.total-rc.succeeded-rc.failed-rc.cancelled-rc.running, 0)
	return fmt.Sprintf("%4d/%-4d succeeded  %3d failed  %3d running  %4d pending  %3d cancelled", rc.succeeded, rc.total, rc.failed, rc.running, pending, rc.cancelled)
}

// summary prints one row per region.
func (v *textView) summary([]fleet.Operation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.total == 0 {
		return
	}
	var rows [][]string
	for _, k := range v.order {
		rc := v.regions[k]
		rows = append(rows, []string{k.stackSet, k.region, fmt.Sprint(rc.succeeded), fmt.Sprint(rc.failed), fmt.Sprint(rc.cancelled)})
	}
	fmt.Fprintln(v.out)
	table(v.out, []string{"STACK SET", "REGION", "SUCCEEDED", "FAILED", "CANCELLED"}, rows)
	fmt.Fprintf(v.out, "%d instance operations in %s\n", v.total, time.Since(v.started).Round(time.Millisecond))
}

// jsonView writes one JSON record per line (NDJSON): {"type":"event",…} for an operation's
// events, {"type":"releaseEvent",…} for a release's, then {"type":"plan","plan":…} and
// {"type":"summary","summary":[…]}.
type jsonView struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONView(out io.Writer) *jsonView { return &jsonView{enc: json.NewEncoder(out)} }

func (v *jsonView) event(ev fleet.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if rec := events.Record(ev); rec != nil {
		_ = v.enc.Encode(rec)
	}
}

func (v *jsonView) plan(p *fleet.Plan)                          { v.write("plan", p) }
func (v *jsonView) unchanged(*fleet.Plan)                       {}
func (v *jsonView) confirm(io.Reader) bool                      { return true }
func (v *jsonView) start(fleet.StackSetPlan)                    {}
func (v *jsonView) summary(ops []fleet.Operation)               { v.write("summary", ops) }
func (v *jsonView) release(fleet.Release, fleet.Pipeline, bool) {}
func (v *jsonView) close()                                      {}

// write prints {"type": typ, typ: payload} with "type" first, like the events.
func (v *jsonView) write(typ string, payload any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	_ = v.enc.Encode(json.RawMessage(fmt.Sprintf(`{"type":%q,"apiVersion":%q,%q:%s}`, typ, events.APIVersion, typ, body)))
}

// table prints rows with aligned columns.
func table(out io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(cells []string) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			if i == len(cells)-1 {
				parts[i] = c
			} else {
				parts[i] = c + strings.Repeat(" ", widths[i]-len(c))
			}
		}
		fmt.Fprintln(out, strings.Join(parts, "  "))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// The JSON documents of the commands that print one (schema/output.schema.json).
type (
	// outputsDocument is outputs -o json: account → region → output key → value.
	outputsDocument struct {
		StackSet string                                  `json:"stackSet"`
		Outputs  map[string]map[string]map[string]string `json:"outputs"`
	}
	// pipelineStatusDocument is pipeline status -o json.
	pipelineStatusDocument struct {
		Releases []fleet.Release      `json:"releases"`
		Release  fleet.Release        `json:"release"`
		Stages   []pipeline.StageView `json:"stages"`
		Gates    []fleet.GateRecord   `json:"gates"`
	}
	// decisionDocument is approve or reject -o json.
	decisionDocument struct {
		Pipeline string `json:"pipeline"`
		Stage    string `json:"stage"`
		Release  string `json:"release"`
		Decision string `json:"decision"` // approved or rejected
	}
)
