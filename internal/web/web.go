// Package web is stackfleet's dashboard: server-rendered pages over the state database — every
// owner's instances as an account × region matrix coloured by status, with drill-down to an
// instance's outputs, failure and events; pipelines with their releases, stages, waves, bake
// time left and gate results — and a live feed of the event stream over server-sent events,
// which also recolours the matrix as instances change. The assets are embedded: it works
// without internet. It reads; it never changes state.
package web

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/localhttp"
	"github.com/stackfleet/stackfleet/internal/pipeline"
	"github.com/stackfleet/stackfleet/internal/state"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"lower":   strings.ToLower,
	"seconds": func(d time.Duration) int { return int(d.Seconds()) },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(assets, "assets/*.html"))

// Store is what the dashboard reads.
type Store interface {
	Owners(ctx context.Context) ([]state.OwnerRecord, error)
	Instances(ctx context.Context, owner fleet.Owner) ([]fleet.Instance, error)
	Unfinished(ctx context.Context, stackSet string) (*fleet.Operation, error)
	Operation(ctx context.Context, id string) (fleet.Operation, []fleet.StepRecord, error)
	Releases(ctx context.Context, pipelineName string, limit int) ([]fleet.Release, error)
	ReleaseByID(ctx context.Context, id string) (fleet.Release, []byte, error)
	GateRecords(ctx context.Context, releaseID string) ([]fleet.GateRecord, error)
	Events(ctx context.Context, opID string, afterSeq int64, limit int) ([]fleet.Event, int64, error)
	LastEventSeq(ctx context.Context) (int64, error)
}

// Server serves the dashboard.
type Server struct {
	Store Store
	// Guard protects it (Host check, no cross-origin writes, the token of the printed URL,
	// which the first page sets as a cookie).
	Guard localhttp.Guard
	// Poll is how often the event feed reads new events (default 300 ms).
	Poll      time.Duration
	Log       *slog.Logger
	Now       func() time.Time
	Pipelines []string // pipelines to list even before their first release
}

const tokenCookie = "stackfleet_token"

// Handler returns the dashboard's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.page(s.index))
	mux.HandleFunc("GET /owners/{kind}/{name...}", s.page(s.owner))
	mux.HandleFunc("GET /instance/{account}/{region}/{kind}/{name...}", s.page(s.instance))
	mux.HandleFunc("GET /pipelines/{name}", s.page(s.pipelinePage))
	mux.HandleFunc("GET /events", s.events)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := s.Guard
		if c, err := r.Cookie(tokenCookie); err == nil && g.Token != "" && c.Value == g.Token && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+c.Value)
		}
		if refusal := g.Check(r); refusal != nil {
			http.Error(w, refusal.Error(), refusal.Status())
			return
		}
		if t := r.URL.Query().Get("token"); t != "" && t == g.Token {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Cell is one instance of a matrix.
type Cell struct {
	Target fleet.Target
	// State is what the colour says: pending, running, succeeded, failed, cancelled, current,
	// outdated, inoperable, none.
	State  string
	Detail string
	Reason string
}

// Matrix is one owner's instances: accounts × regions.
type Matrix struct {
	Owner    fleet.Owner
	Regions  []string
	Accounts []string
	Cells    map[string]map[string]Cell // account → region
	// Operation is the owner's unfinished operation, if any.
	Operation string
}

// Cell returns the cell of account and region.
func (m Matrix) Cell(account, region string) Cell {
	if c, ok := m.Cells[account][region]; ok {
		return c
	}
	return Cell{Target: fleet.Target{Account: account, Region: region}, State: "none"}
}

func (s *Server) matrix(ctx context.Context, o fleet.Owner) (Matrix, error) {
	m := Matrix{Owner: o, Cells: map[string]map[string]Cell{}}
	put := func(c Cell) {
		if m.Cells[c.Target.Account] == nil {
			m.Cells[c.Target.Account] = map[string]Cell{}
		}
		m.Cells[c.Target.Account][c.Target.Region] = c
	}
	insts, err := s.Store.Instances(ctx, o)
	if err != nil {
		return m, err
	}
	for _, in := range insts {
		state := strings.ToLower(string(in.Status))
		if in.Detail == fleet.StepFailed {
			state = "failed"
		}
		put(Cell{Target: in.Target, State: state, Detail: string(in.Detail), Reason: in.Reason})
	}
	if o.Kind == fleet.OwnedByStackSet {
		op, err := s.Store.Unfinished(ctx, o.Name)
		if err != nil {
			return m, err
		}
		if op != nil {
			m.Operation = op.ID
			_, steps, err := s.Store.Operation(ctx, op.ID)
			if err != nil {
				return m, err
			}
			for _, st := range steps {
				c := m.Cell(st.Target.Account, st.Target.Region)
				c.Target, c.State, c.Detail = st.Target, stepState(st.Status), string(st.Status)
				if st.Reason != "" {
					c.Reason = st.Reason
				}
				put(c)
			}
		}
	}
	accts, regions := map[string]bool{}, map[string]bool{}
	for a, rs := range m.Cells {
		accts[a] = true
		for r := range rs {
			regions[r] = true
		}
	}
	m.Accounts, m.Regions = slices.Sorted(maps.Keys(accts)), slices.Sorted(maps.Keys(regions))
	return m, nil
}

// stepState is the cell state of a step status (the live states the feed also sets).
func stepState(s fleet.StepStatus) string {
	switch s {
	case fleet.StepSucceeded, fleet.StepRolledBack:
		return "succeeded"
	case fleet.StepFailed:
		return "failed"
	case fleet.StepRunning:
		return "running"
	case fleet.StepCancelled:
		return "cancelled"
	}
	return "pending"
}

// afterKey holds, in a page request's context, the end of the event stream when the request
// began, before the page read the state.
type afterKey struct{}

// page notes where the event stream ends before h reads the state: the page's event feed starts
// there, so that no event between the page's reading and the feed's start is lost.
func (s *Server) page(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		after, err := s.Store.LastEventSeq(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), afterKey{}, after)))
	}
}

// render executes a page with its data, title and where its event feed starts ("After").
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, data map[string]any) {
	data["Title"] = title
	data["After"], _ = r.Context().Value(afterKey{}).(int64)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log().Warn("dashboard: render", "page", name, "err", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log().Warn("dashboard", "err", err)
	http.Error(w, "cannot read the state database: "+err.Error(), http.StatusInternalServerError)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	owners, err := s.Store.Owners(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	var matrices []Matrix
	pipes := map[string]bool{}
	for _, p := range s.Pipelines {
		pipes[p] = true
	}
	for _, o := range owners {
		m, err := s.matrix(ctx, o.Owner)
		if err != nil {
			s.fail(w, err)
			return
		}
		matrices = append(matrices, m)
		if o.Owner.Kind == fleet.OwnedByPipeline {
			pipes[o.Owner.Name] = true
		}
	}
	type pipe struct {
		Name   string
		Latest *fleet.Release
	}
	var pl []pipe
	for _, name := range slices.Sorted(maps.Keys(pipes)) {
		rels, err := s.Store.Releases(ctx, name, 1)
		if err != nil {
			s.fail(w, err)
			return
		}
		p := pipe{Name: name}
		if len(rels) > 0 {
			p.Latest = &rels[0]
		}
		pl = append(pl, p)
	}
	s.render(w, r, "index.html", "fleet", map[string]any{"Matrices": matrices, "Pipelines": pl})
}

func ownerOf(kind, name string) (fleet.Owner, bool) {
	switch fleet.OwnerKind(kind) {
	case fleet.OwnedByStackSet:
		return fleet.StackSetOwner(name), name != ""
	case fleet.OwnedByPipeline:
		p, st, ok := strings.Cut(name, "/")
		return fleet.PipelineOwner(p, st), ok
	}
	return fleet.Owner{}, false
}

func (s *Server) owner(w http.ResponseWriter, r *http.Request) {
	o, ok := ownerOf(r.PathValue("kind"), r.PathValue("name"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	m, err := s.matrix(r.Context(), o)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, r, "owner.html", m.Owner.Ref(), map[string]any{"Matrix": m})
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	o, ok := ownerOf(r.PathValue("kind"), r.PathValue("name"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	t := fleet.Target{Account: r.PathValue("account"), Region: r.PathValue("region")}
	m, err := s.matrix(ctx, o)
	if err != nil {
		s.fail(w, err)
		return
	}
	insts, err := s.Store.Instances(ctx, o)
	if err != nil {
		s.fail(w, err)
		return
	}
	var inst *fleet.Instance
	for i := range insts {
		if insts[i].Target == t {
			inst = &insts[i]
		}
	}
	// The instance's events: the newest 200 of the stream that name it.
	var evs []fleet.EventDetail
	after := int64(0)
	for {
		batch, last, err := s.Store.Events(ctx, "", after, 5000)
		if err != nil {
			s.fail(w, err)
			return
		}
		for _, ev := range batch {
			d := ev.Detail()
			if d.Target != nil && *d.Target == t && ownsEvent(o, ev) {
				evs = append(evs, d)
			}
		}
		if len(batch) < 5000 || last == after {
			break
		}
		after = last
	}
	if len(evs) > 200 {
		evs = evs[len(evs)-200:]
	}
	slices.Reverse(evs)
	s.render(w, r, "instance.html", o.Ref(), map[string]any{"Owner": o, "Target": t, "Cell": m.Cell(t.Account, t.Region), "Instance": inst,
		"Outputs": sortedOutputs(inst), "Events": evs})
}

type output struct{ Key, Value string }

func sortedOutputs(in *fleet.Instance) []output {
	if in == nil {
		return nil
	}
	var out []output
	for _, k := range slices.Sorted(maps.Keys(in.Outputs)) {
		out = append(out, output{k, in.Outputs[k]})
	}
	return out
}

func ownsEvent(o fleet.Owner, ev fleet.Event) bool {
	switch e := ev.(type) {
	case fleet.OperationEvent:
		return o.Kind == fleet.OwnedByStackSet && e.StackSet == o.Name
	case fleet.ReleaseEvent:
		return o.Kind == fleet.OwnedByPipeline && e.Pipeline == o.Name && e.Stack == o.Stack
	}
	return false
}

func (s *Server) pipelinePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	rels, err := s.Store.Releases(ctx, name, 10)
	if err != nil {
		s.fail(w, err)
		return
	}
	type releaseView struct {
		Release fleet.Release
		Stages  []pipeline.StageView
		Gates   []gateRow
	}
	var views []releaseView
	for i, rel := range rels {
		v := releaseView{Release: rel}
		if i < 3 {
			_, content, err := s.Store.ReleaseByID(ctx, rel.ID)
			if err != nil {
				s.fail(w, err)
				return
			}
			var spec fleet.Pipeline
			if err := json.Unmarshal(content, &spec); err != nil {
				s.fail(w, fmt.Errorf("release %s: %w", rel.ID, err))
				return
			}
			v.Stages = pipeline.Describe(spec, rel, s.now())
			gates, err := s.Store.GateRecords(ctx, rel.ID)
			if err != nil {
				s.fail(w, err)
				return
			}
			for _, g := range gates {
				v.Gates = append(v.Gates, newGateRow(g, v.Stages))
			}
		}
		views = append(views, v)
	}
	s.render(w, r, "pipeline.html", name, map[string]any{"Name": name, "Releases": views, "Now": s.now()})
}

// gateRow is a gate's result with its stage and wave by name.
type gateRow struct {
	fleet.GateRecord
	StageName, WaveName string
}

func newGateRow(g fleet.GateRecord, stages []pipeline.StageView) gateRow {
	row := gateRow{GateRecord: g, StageName: fmt.Sprint(g.Stage), WaveName: "stage checks"}
	if g.Stage >= 0 && g.Stage < len(stages) {
		st := stages[g.Stage]
		row.StageName = st.Name
		if g.Wave >= 0 && g.Wave < len(st.Waves) {
			row.WaveName = st.Waves[g.Wave].Name
		}
	}
	return row
}

// events streams the event records (as the JSON of -o json) over server-sent events: those
// recorded after Last-Event-ID (a reconnecting browser resumes), else after ?after= (where the
// page's state was read), else from now on. When the server stops, it sends what was recorded
// until then and ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	var after int64
	if _, err := fmt.Sscan(r.Header.Get("Last-Event-ID"), &after); err != nil {
		if _, err := fmt.Sscan(r.URL.Query().Get("after"), &after); err != nil {
			if after, err = s.Store.LastEventSeq(ctx); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "retry: 1000\n\n")
	flusher.Flush()
	tick := time.NewTicker(cmp.Or(s.Poll, 300*time.Millisecond))
	defer tick.Stop()
	// Reads do not end with the request: a stop that cancels it in the middle of a read must
	// not cut the feed before the last events are sent.
	read, stopping := context.WithoutCancel(ctx), false
	for {
		batch, last, err := s.Store.Events(read, "", after, 1000)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log().Warn("dashboard: events", "err", err)
			}
			return
		}
		for i, ev := range batch {
			body, err := json.Marshal(events.Record(ev))
			if err != nil {
				continue
			}
			id := ""
			if i == len(batch)-1 {
				id = fmt.Sprintf("id: %d\n", last)
			}
			fmt.Fprintf(w, "%sdata: %s\n\n", id, body)
		}
		if len(batch) > 0 {
			after = last
			flusher.Flush()
		}
		if stopping {
			if len(batch) == 0 {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			// The server stops (the command that serves it ends): send the last events first.
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			read, stopping = c, true
		case <-tick.C:
		}
	}
}
