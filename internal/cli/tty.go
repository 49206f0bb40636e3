package cli

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// live reports whether deploying commands draw the live terminal view: text output to a
// terminal, not in CI, not with --no-tty, and a terminal that can move its cursor.
func (g *globals) live() bool {
	return !g.json() && !g.noTTY && isTerminal(g.stdout) && os.Getenv("CI") == "" && os.Getenv("TERM") != "dumb"
}

// ttyView is the view for a person at a terminal. The plain log's lines — failures as they
// happen, operation and release events — scroll above a live area that bubbletea redraws in
// place ten times a second: per stack set and region a progress bar with exact counts, the
// instances in flight with their elapsed time, an ETA from the observed rate; for a release its
// stages, the running wave, the bake or soak time left and the gates' verdicts. The per-region
// progress lines of the plain log are left out (the bars say it); the summary table is the same.
type ttyView struct {
	*textView
	live  *liveWriter
	errw  *liveWriter // stderr, when it is the terminal too (or nil)
	style ttyStyles
	now   func() time.Time

	mu       sync.Mutex // guards what follows
	inflight map[string]inFlight
	begun    time.Time // first instance started
	finished int       // instances finished since begun (for the rate)
	rel      *releaseLive
	final    bool // the last frame: no ETA
	prog     *tea.Program
	stopped  chan struct{}
	width    int
	height   int
}

// inFlight is an instance being deployed.
type inFlight struct {
	label string
	since time.Time
}

// releaseLive is what the live area shows of a release.
type releaseLive struct {
	id, pipeline, version, status string
	stages                        []stageLive
	current                       int // index of the running stage, -1 before the first
	rollback                      string
}

type stageLive struct {
	name                       string
	state                      string // pending, running, succeeded, failed, rolled back, waiting …
	wave                       string // "wave 2/3", the running wave
	phase                      string // deploying, baking, verifying
	until                      time.Time
	running, succeeded, failed int
	passed, gateFailed         int
	lastGate                   string
}

// ttyStyles colours the live area and the plan; every style is plain under NO_COLOR or on a
// terminal without colours.
type ttyStyles struct {
	ok, bad, busy, dim, info, bold, warn lipgloss.Style
}

func newTTYStyles(out io.Writer) ttyStyles {
	r := lipgloss.NewRenderer(out)
	if os.Getenv("NO_COLOR") != "" {
		r.SetColorProfile(termenv.Ascii)
	}
	c := func(code string) lipgloss.Style { return r.NewStyle().Foreground(lipgloss.Color(code)) }
	return ttyStyles{ok: c("2"), bad: c("1"), busy: c("3"), dim: c("8"), info: c("6"), warn: c("5"), bold: r.NewStyle().Bold(true)}
}

func newTTYView(g *globals, names map[string]string) *ttyView {
	lw := &liveWriter{out: g.stdout}
	tv := newTextView(lw)
	tv.quietProgress = true
	st := newTTYStyles(g.stdout)
	tv.planStyle = st.plan(names)
	v := &ttyView{textView: tv, live: lw, style: st, now: time.Now, inflight: map[string]inFlight{}}
	if isTerminal(g.stderr) {
		v.errw = &liveWriter{out: g.stderr}
		g.stderr = v.errw
	}
	return v
}

// plan is the terminal's plan style: + green, ~ yellow, - red, ! magenta, = grey.
func (st ttyStyles) plan(names map[string]string) planStyle {
	return planStyle{names: names, paint: func(k fleet.ActionKind, s string) string {
		switch k {
		case fleet.Create:
			return st.ok.Render(s)
		case fleet.Update:
			return st.busy.Render(s)
		case fleet.Delete:
			return st.bad.Render(s)
		case fleet.Unmanage:
			return st.warn.Render(s)
		}
		return st.dim.Render(s)
	}}
}

// liveWriter is the plain log's writer: straight to the terminal while no live area is drawn,
// otherwise queued by whole lines for the live area to print above itself.
type liveWriter struct {
	mu      sync.Mutex
	out     io.Writer
	running bool
	partial []byte
	lines   []string
}

func (w *liveWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		return w.out.Write(p)
	}
	w.partial = append(w.partial, p...)
	for {
		i := slices.Index(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// take returns the queued lines.
func (w *liveWriter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.lines
	w.lines = nil
	return l
}

func (w *liveWriter) setRunning(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = on
	if !on && len(w.partial) > 0 {
		_, _ = w.out.Write(w.partial)
		w.partial = nil
	}
}

// begin draws the live area from now on.
func (v *ttyView) begin() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.prog != nil {
		return
	}
	v.live.setRunning(true)
	if v.errw != nil {
		v.errw.setRunning(true)
	}
	v.stopped = make(chan struct{})
	v.prog = tea.NewProgram(liveModel{v}, tea.WithOutput(v.live.out), tea.WithInput(nil), tea.WithoutSignalHandler())
	go func(p *tea.Program, done chan struct{}) {
		_, _ = p.Run()
		close(done)
	}(v.prog, v.stopped)
}

// close prints what is queued, draws the last frame, leaves it on the screen and gives the
// terminal back to the plain log.
func (v *ttyView) close() {
	v.mu.Lock()
	p, done := v.prog, v.stopped
	v.prog = nil
	v.mu.Unlock()
	if p == nil {
		return
	}
	p.Send(finalMsg{})
	<-done
	v.live.setRunning(false)
	for _, l := range v.live.take() { // written after the last frame
		fmt.Fprintln(v.live.out, l)
	}
	if v.errw != nil {
		v.errw.setRunning(false)
		for _, l := range v.errw.take() {
			fmt.Fprintln(v.errw.out, l)
		}
	}
}

func (v *ttyView) start(sp fleet.StackSetPlan) {
	v.textView.start(sp)
	v.begin()
}

func (v *ttyView) release(rel fleet.Release, spec fleet.Pipeline, resumed bool) {
	v.textView.release(rel, spec, resumed)
	v.setRelease(rel, spec, resumed)
	v.begin()
}

// setRelease makes the live area show a release: its stages, the ones a resumed release has
// passed as succeeded.
func (v *ttyView) setRelease(rel fleet.Release, spec fleet.Pipeline, resumed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &releaseLive{id: rel.ID, pipeline: rel.Pipeline, version: rel.Version, status: string(rel.Status), current: -1}
	for i, st := range spec.Stages {
		s := stageLive{name: st.Name, state: "pending"}
		switch {
		case resumed && i < rel.Position.Stage:
			s.state = "succeeded"
		case resumed && i == rel.Position.Stage:
			// A resumed release goes on inside its stage without announcing it again.
			s.state, r.current = "running", i
			if rel.Position.Wave < len(st.Waves) {
				s.wave = fmt.Sprintf("wave %d/%d", rel.Position.Wave+1, len(st.Waves))
			}
		}
		r.stages = append(r.stages, s)
	}
	v.rel = r
}

func (v *ttyView) summary(ops []fleet.Operation) {
	v.close()
	v.textView.summary(ops)
}

func (v *ttyView) event(ev fleet.Event) {
	v.textView.event(ev)
	d := ev.Detail()
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.Kind == fleet.EventStep && d.Target != nil {
		owner := ""
		switch e := ev.(type) {
		case fleet.OperationEvent:
			owner = e.StackSet
		case fleet.ReleaseEvent:
			owner = e.Stack
		}
		key := owner + " " + d.Target.String() // also what the in-flight list shows
		switch fleet.StepStatus(d.Status) {
		case fleet.StepRunning:
			if v.begun.IsZero() {
				v.begun = v.now()
			}
			v.inflight[key] = inFlight{label: key, since: v.now()}
		case fleet.StepSucceeded, fleet.StepFailed:
			if _, ok := v.inflight[key]; ok {
				v.finished++
			}
			delete(v.inflight, key)
		default:
			delete(v.inflight, key)
		}
	}
	if e, ok := ev.(fleet.ReleaseEvent); ok && v.rel != nil {
		v.rel.event(e)
	}
}

// untilRE finds the end time in a bake or soak event's reason ("… until 2026-12-03T10:00:00Z …").
var untilRE = regexp.MustCompile(`until (\d{4}-\d\d-\d\dT[^ )]+)`)

func (r *releaseLive) event(e fleet.ReleaseEvent) {
	switch e.Kind {
	case fleet.EventRelease:
		if e.Status != "RESUMED" {
			r.status = e.Status
		}
		return
	case fleet.EventRollback:
		r.rollback = e.Status + " " + e.Reason
	case fleet.EventStage:
		r.current = r.stageOf(e)
	}
	// The rest is about the running stage.
	if r.current < 0 || r.current >= len(r.stages) {
		return
	}
	s := &r.stages[r.current]
	switch e.Kind {
	case fleet.EventRollback:
		if e.Status == "ROLLED_BACK" {
			s.state = "rolled back"
		}
	case fleet.EventStage:
		switch e.Status {
		case "STARTED":
			s.state, s.wave, s.phase = "running", "", ""
		case "SUCCEEDED":
			s.state, s.phase = "succeeded", ""
		case "WAITING_APPROVAL":
			s.state, s.phase = "waiting for approval", ""
		case "APPROVED":
			s.state = "approved"
		case "SOAKING":
			s.state = "waiting"
			if m := untilRE.FindStringSubmatch(e.Reason); m != nil {
				s.until, _ = time.Parse(time.RFC3339, m[1])
				s.phase = "soak"
			}
		case "QUEUED":
			s.state = "queued"
		}
	case fleet.EventWave:
		name, _, _ := strings.Cut(strings.TrimPrefix(e.Reason, s.name+" "), ":")
		switch e.Status {
		case "DEPLOYING":
			s.wave, s.phase, s.until = name, "deploying", time.Time{}
			s.running, s.succeeded, s.failed = 0, 0, 0
		case "BAKING":
			s.wave, s.phase = name, "baking"
			if m := untilRE.FindStringSubmatch(e.Reason); m != nil {
				s.until, _ = time.Parse(time.RFC3339, m[1])
			}
		case "SUCCEEDED":
			s.phase, s.until = "succeeded", time.Time{}
		case "FAILED":
			s.state, s.phase, s.until = "failed", "", time.Time{}
			if s.lastGate == "" {
				s.lastGate = e.Reason
			}
		case "WAITING_WINDOW":
			s.phase = "waiting for a window"
		}
	case fleet.EventGate:
		switch e.Status {
		case "PASSED":
			s.passed++
		case "FAILED", "ERROR":
			s.gateFailed++
			s.lastGate = e.Reason
			if e.Target != nil {
				s.lastGate = e.Target.String() + ": " + e.Reason
			}
		}
	case fleet.EventStep:
		switch fleet.StepStatus(e.Status) {
		case fleet.StepRunning:
			s.running++
		case fleet.StepSucceeded:
			s.running--
			s.succeeded++
		case fleet.StepFailed:
			s.running--
			s.failed++
		case fleet.StepPending, fleet.StepCancelled:
			s.running = max(s.running-1, 0)
		}
	}
}

// stageOf finds the stage a stage event is about from its reason (see the pipeline engine's
// messages), or keeps the current one.
func (r *releaseLive) stageOf(e fleet.ReleaseEvent) int {
	for i, s := range r.stages {
		switch e.Status {
		case "STARTED", "SUCCEEDED":
			if e.Reason == s.name {
				return i
			}
		case "WAITING_APPROVAL":
			if strings.Contains(e.Reason, " "+s.name+"'") {
				return i
			}
		case "APPROVED":
			if strings.HasPrefix(e.Reason, s.name+" by ") {
				return i
			}
		case "SOAKING":
			if strings.HasSuffix(e.Reason, " before "+s.name) {
				return i
			}
		}
	}
	return r.current
}

// The live area's bubbletea model: a tick redraws it and prints the queued log lines above it;
// finalMsg prints the rest and stops, leaving the last frame on the screen.
type (
	liveModel struct{ v *ttyView }
	tickMsg   struct{}
	finalMsg  struct{}
)

const frameInterval = 100 * time.Millisecond

func tick() tea.Cmd { return tea.Tick(frameInterval, func(time.Time) tea.Msg { return tickMsg{} }) }

func (m liveModel) Init() tea.Cmd { return tick() }

func (m liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.v.mu.Lock()
		m.v.width, m.v.height = msg.Width, msg.Height
		m.v.mu.Unlock()
	case tickMsg:
		return m, tea.Batch(m.printQueued(), tick())
	case finalMsg:
		m.v.mu.Lock()
		m.v.final = true
		m.v.mu.Unlock()
		if p := m.printQueued(); p != nil {
			return m, tea.Sequence(p, tea.Quit)
		}
		return m, tea.Quit
	}
	return m, nil
}

// printQueued prints the queued log lines above the live area, wrapped at the terminal's
// width: the renderer counts the rows it printed by newlines, and a row the terminal wrapped
// itself would throw its redraw off by one.
func (m liveModel) printQueued() tea.Cmd {
	lines := m.v.live.take()
	if m.v.errw != nil {
		lines = append(lines, m.v.errw.take()...)
	}
	if len(lines) == 0 {
		return nil
	}
	text := strings.Join(lines, "\n")
	m.v.mu.Lock()
	if w := m.v.width; w > 0 {
		text = ansi.Hardwrap(text, w, true)
	}
	m.v.mu.Unlock()
	// "\r": the terminal may have echoed ^C where the renderer left the cursor (the start of
	// the empty row under the frame), and the renderer writes on from wherever it is.
	return tea.Println("\r" + text)
}

func (m liveModel) View() string { return "\r" + m.v.frame(m.v.now()) }

// frame renders the live area at now.
func (v *ttyView) frame(now time.Time) string {
	v.textView.mu.Lock()
	type laneRow struct {
		k  laneKey
		rc regionCount
	}
	var lanes []laneRow
	for _, k := range v.textView.order {
		lanes = append(lanes, laneRow{k, *v.textView.regions[k]})
	}
	v.textView.mu.Unlock()

	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.style
	var lines []string
	if r := v.rel; r != nil {
		lines = append(lines, v.releaseLines(r, now)...)
	}
	// On a terminal too short for a bar per region, the regions that are done without failures,
	// then those not started, are counted on one line per stack set instead.
	quiet := map[laneKey]string{}
	if v.height > 0 {
		room := v.height - len(lines) - 10 // the in-flight list, the status line, the prompt
		rows := func() int {
			n, sets := 0, map[string]bool{}
			for _, l := range lanes {
				if _, ok := quiet[l.k]; !ok && l.rc.total > 0 {
					n++
				}
				sets[l.k.stackSet] = true
			}
			return n + 2*len(sets)
		}
		for _, kind := range []string{"done", "waiting"} {
			for _, l := range lanes {
				if rows() <= room {
					break
				}
				rc := l.rc
				finished := rc.succeeded+rc.cancelled == rc.total && rc.failed == 0
				untouched := rc.succeeded+rc.failed+rc.cancelled+rc.running == 0
				if kind == "done" && finished || kind == "waiting" && untouched {
					quiet[l.k] = kind
				}
			}
		}
	}
	remaining, total := 0, 0
	var prev string
	flushQuiet := func(stackSet string) {
		done, waiting := 0, 0
		for k, kind := range quiet {
			if k.stackSet == stackSet {
				if kind == "done" {
					done++
				} else {
					waiting++
				}
			}
		}
		if done+waiting > 0 {
			lines = append(lines, s.dim.Render(fmt.Sprintf("  … %d regions done, %d not started", done, waiting)))
		}
	}
	for _, l := range lanes {
		if l.rc.total == 0 {
			continue
		}
		if l.k.stackSet != prev {
			if prev != "" {
				flushQuiet(prev)
			}
			lines = append(lines, s.bold.Render(l.k.stackSet))
			prev = l.k.stackSet
		}
		rc := l.rc
		pending := max(rc.total-rc.succeeded-rc.failed-rc.cancelled-rc.running, 0)
		done := rc.succeeded + rc.failed + rc.cancelled
		remaining += rc.total - done
		total += rc.total
		if _, ok := quiet[l.k]; ok {
			continue
		}
		counts := []string{s.ok.Render(fmt.Sprintf("%d succeeded", rc.succeeded))}
		if rc.failed > 0 {
			counts = append(counts, s.bad.Render(fmt.Sprintf("%d failed", rc.failed)))
		} else {
			counts = append(counts, "0 failed")
		}
		counts = append(counts, s.busy.Render(fmt.Sprintf("%d running", rc.running)), fmt.Sprintf("%d pending", pending))
		if rc.cancelled > 0 {
			counts = append(counts, s.dim.Render(fmt.Sprintf("%d cancelled", rc.cancelled)))
		}
		lines = append(lines, fmt.Sprintf("  %-15s %s %*d/%d  %s", l.k.region,
			v.bar(rc.succeeded, rc.failed, rc.running, rc.cancelled, rc.total), len(fmt.Sprint(rc.total)), done, rc.total, strings.Join(counts, "  ")))
	}
	if prev != "" {
		flushQuiet(prev)
	}
	if len(v.inflight) > 0 {
		fl := make([]inFlight, 0, len(v.inflight))
		for _, f := range v.inflight {
			fl = append(fl, f)
		}
		slices.SortFunc(fl, func(a, b inFlight) int {
			if c := a.since.Compare(b.since); c != 0 {
				return c
			}
			return strings.Compare(a.label, b.label)
		})
		lines = append(lines, s.dim.Render(fmt.Sprintf("in flight (%d)", len(fl))))
		const shown = 6
		for _, f := range fl[:min(len(fl), shown)] {
			lines = append(lines, fmt.Sprintf("  %s  %s", f.label, s.dim.Render(elapsed(now.Sub(f.since)))))
		}
		if len(fl) > shown {
			lines = append(lines, s.dim.Render(fmt.Sprintf("  … and %d more", len(fl)-shown)))
		}
	}
	if total > 0 && !v.begun.IsZero() {
		status := "elapsed " + elapsed(now.Sub(v.begun))
		switch {
		case remaining == 0 || v.final:
		case v.finished > 0:
			rate := float64(v.finished) / now.Sub(v.begun).Seconds()
			status += "  ETA " + elapsed(time.Duration(float64(remaining)/rate*float64(time.Second)))
		default:
			status += "  ETA …"
		}
		lines = append(lines, s.dim.Render(status))
	}
	if v.width > 0 {
		for i, l := range lines {
			lines[i] = ansi.Truncate(l, v.width, "…")
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// releaseLines renders a release: a header, then a line per stage.
func (v *ttyView) releaseLines(r *releaseLive, now time.Time) []string {
	s := v.style
	lines := []string{s.bold.Render(fmt.Sprintf("release %s of %s", r.id, r.pipeline)) + s.dim.Render(" version "+r.version) + "  " + v.statusText(r.status)}
	for _, st := range r.stages {
		mark, text := "○", s.dim.Render(st.state)
		switch st.state {
		case "succeeded":
			mark, text = s.ok.Render("✓"), s.ok.Render("succeeded")
		case "failed", "rolled back":
			mark, text = s.bad.Render("✗"), s.bad.Render(st.state)
		case "running", "approved":
			mark, text = s.busy.Render("●"), s.busy.Render("running")
		case "waiting for approval", "waiting", "queued":
			mark, text = s.info.Render("◌"), s.info.Render(st.state)
		}
		line := fmt.Sprintf("  %s %-12s %s", mark, st.name, text)
		if st.wave != "" && st.state != "succeeded" {
			line += "  " + st.wave
			if st.phase != "" {
				line += " " + st.phase
			}
		}
		if !st.until.IsZero() && (st.phase == "baking" || st.phase == "soak") {
			line += s.info.Render(fmt.Sprintf(" %s left", elapsed(max(st.until.Sub(now), 0))))
		}
		if st.phase == "deploying" {
			line += fmt.Sprintf("  %s %s %s", s.ok.Render(fmt.Sprintf("%d succeeded", st.succeeded)), v.failedText(st.failed), s.busy.Render(fmt.Sprintf("%d running", st.running)))
		}
		if st.passed+st.gateFailed > 0 {
			line += s.dim.Render("  gates ") + s.ok.Render(fmt.Sprintf("%d passed", st.passed))
			if st.gateFailed > 0 {
				line += " " + s.bad.Render(fmt.Sprintf("%d failed", st.gateFailed))
			}
		}
		lines = append(lines, line)
		if st.lastGate != "" && (st.state == "failed" || st.state == "rolled back" || st.gateFailed > 0) {
			lines = append(lines, "      "+s.bad.Render(st.lastGate))
		}
	}
	if r.rollback != "" {
		lines = append(lines, "  "+s.bad.Render(strings.ToLower(strings.ReplaceAll(r.rollback, "_", " "))))
	}
	return lines
}

func (v *ttyView) failedText(n int) string {
	if n == 0 {
		return "0 failed"
	}
	return v.style.bad.Render(fmt.Sprintf("%d failed", n))
}

func (v *ttyView) statusText(status string) string {
	t := strings.ToLower(strings.ReplaceAll(status, "_", " "))
	switch fleet.ReleaseStatus(status) {
	case fleet.ReleaseSucceeded:
		return v.style.ok.Render(t)
	case fleet.ReleaseRolledBack, fleet.ReleaseFailed:
		return v.style.bad.Render(t)
	}
	return v.style.busy.Render(t)
}

// barWidth is the width of a progress bar in cells.
const barWidth = 24

// bar draws a region's progress: succeeded, failed, running and cancelled cells in proportion
// (each nonzero count gets at least one cell), pending the rest. The glyphs differ too, so
// that the bar reads without colour.
func (v *ttyView) bar(succeeded, failed, running, cancelled, total int) string {
	counts := []int{succeeded, failed, running, cancelled}
	cells := make([]int, len(counts))
	used := 0
	for i, c := range counts {
		if c > 0 {
			cells[i] = max(c*barWidth/total, 1)
			used += cells[i]
		}
	}
	for used > barWidth { // the minimum cells overflowed: take from the largest
		i := 0
		for j := range cells {
			if cells[j] > cells[i] {
				i = j
			}
		}
		cells[i]--
		used--
	}
	if succeeded+failed+running+cancelled == total { // a finished region fills the bar
		for i := range cells {
			if counts[i] > 0 && used < barWidth {
				cells[i] += barWidth - used
				used = barWidth
			}
		}
	}
	s := v.style
	return s.ok.Render(strings.Repeat("█", cells[0])) + s.bad.Render(strings.Repeat("✗", cells[1])) +
		s.busy.Render(strings.Repeat("▒", cells[2])) + s.dim.Render(strings.Repeat("-", cells[3])) +
		s.dim.Render(strings.Repeat("·", barWidth-used))
}

// elapsed renders a duration for the live area: 850ms, 12s, 3m05s, 1h02m.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
