package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// progressView renders operation events for people: one line per failure as it happens (with the
// first failing resource), and per region a progress line (done / failed / running / pending)
// each time another tenth of the region finishes, then a summary table.
type progressView struct {
	mu      sync.Mutex
	out     io.Writer
	regions map[laneKey]*regionCount
	order   []laneKey
	total   int
	failed  int
	started time.Time
}

// laneKey is one region of one stack set's operation.
type laneKey struct{ stackSet, region string }

type regionCount struct {
	total, running, succeeded, failed, cancelled int
	lastTenth                                    int
}

func newProgressView(out io.Writer) *progressView {
	return &progressView{out: out, regions: map[laneKey]*regionCount{}, started: time.Now()}
}

// expect registers the steps of an operation before it starts.
func (v *progressView) expect(sp fleet.StackSetPlan) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range sp.Actions {
		if a.Kind == fleet.NoChange {
			continue
		}
		rc := v.lane(laneKey{sp.Name, a.Target.Region})
		rc.total++
		v.total++
	}
}

func (v *progressView) observe(e fleet.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case "operation":
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
	case "region":
		fmt.Fprintf(v.out, "%s: region %s STOPPED: %s; later regions are CANCELLED\n", e.StackSet, e.Target.Region, e.Reason)
	case "step":
		rc := v.lane(laneKey{e.StackSet, e.Target.Region})
		switch e.Status {
		case "RUNNING":
			rc.running++
			return
		case "SUCCEEDED":
			rc.running--
			rc.succeeded++
		case "FAILED":
			rc.running--
			rc.failed++
			v.failed++
			fmt.Fprintf(v.out, "  FAILED %s: %s\n", e.Target, e.Reason)
		case "CANCELLED":
			rc.cancelled++
		case "PENDING":
			rc.running--
			return
		}
		done := rc.succeeded + rc.failed + rc.cancelled
		if rc.total == 0 {
			return
		}
		tenth := done * 10 / rc.total
		if (tenth > rc.lastTenth && e.Status != "CANCELLED") || done == rc.total {
			rc.lastTenth = tenth
			fmt.Fprintf(v.out, "  %-15s %s\n", e.Target.Region, rc.line())
		}
	}
}

func (v *progressView) lane(k laneKey) *regionCount {
	rc := v.regions[k]
	if rc == nil {
		rc = &regionCount{}
		v.regions[k] = rc
		v.order = append(v.order, k)
	}
	return rc
}

func (rc *regionCount) line() string {
	done := rc.succeeded + rc.failed + rc.cancelled
	pending := max(rc.total-done-rc.running, 0)
	return fmt.Sprintf("%4d/%-4d done  %3d failed  %3d running  %4d pending  %3d cancelled", done, rc.total, rc.failed, rc.running, pending, rc.cancelled)
}

// summary prints one row per region.
func (v *progressView) summary() {
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

// jsonView writes every event as one JSON object per line (NDJSON).
type jsonView struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONView(out io.Writer) *jsonView { return &jsonView{enc: json.NewEncoder(out)} }

func (v *jsonView) observe(e fleet.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = v.enc.Encode(struct {
		Type string `json:"type"`
		fleet.Event
	}{"event", e})
}

// write prints {"type": typ, typ: payload} with "type" first, like the events.
func (v *jsonView) write(typ string, payload any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	_ = v.enc.Encode(json.RawMessage(fmt.Sprintf(`{"type":%q,%q:%s}`, typ, typ, body)))
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
