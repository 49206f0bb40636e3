package state_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

func sampleRelease(id string, created int) fleet.Release {
	return fleet.Release{
		ID: id, Pipeline: "web", Version: "v-" + id, Status: fleet.ReleaseQueued, CreatedAt: at(created),
	}
}

func TestReleaseRoundTrip(t *testing.T) { testReleaseRoundTrip(t, sqliteBackend) }

func testReleaseRoundTrip(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	r := sampleRelease("r1", 0)
	// Not canonical JSON: content is kept byte for byte.
	content := []byte(`{"Name": "web",  "Stages": [{"Name":"beta"}]}`)
	if err := s.CreateRelease(ctx, r, content); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want fleet.Release) {
		t.Helper()
		got, gotContent, err := s.ReleaseByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: release (-want +got):\n%s", when, diff)
		}
		if !bytes.Equal(gotContent, content) {
			t.Errorf("%s: content = %q, want %q", when, gotContent, content)
		}
	}
	check("after create", r)

	r.Status = fleet.ReleaseRunning
	r.Position = fleet.Position{Stage: 1, Wave: 2, Phase: fleet.PhaseBake, Since: at(5)}
	r.Reason = "baking"
	if err := s.UpdateRelease(ctx, r); err != nil {
		t.Fatal(err)
	}
	check("after update", r)

	// Only status, position, end and reason change.
	ended := r
	ended.Status, ended.EndedAt, ended.Reason = fleet.ReleaseFailed, at(9), "wave 2 failed"
	ended.Position = fleet.Position{Stage: 1, Wave: 2, Phase: fleet.PhaseRollback}
	changed := ended
	changed.Version, changed.Pipeline, changed.CreatedAt = "other", "other", at(30)
	if err := s.UpdateRelease(ctx, changed); err != nil {
		t.Fatal(err)
	}
	check("after end", ended)
}

func TestReleaseErrors(t *testing.T) { testReleaseErrors(t, sqliteBackend) }

func testReleaseErrors(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	if err := s.CreateRelease(ctx, sampleRelease("r1", 0), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	negative := sampleRelease("r2", 0)
	negative.Position.Wave = -1
	noStatus := sampleRelease("r1", 0)
	noStatus.Status = ""
	tests := []struct {
		name     string
		err      error
		want     string
		notFound bool
	}{
		{"duplicate", s.CreateRelease(ctx, sampleRelease("r1", 1), []byte("{}")), "a release with that id already exists", false},
		{"no id", s.CreateRelease(ctx, fleet.Release{Pipeline: "web", Status: fleet.ReleaseQueued}, []byte("{}")), "id, pipeline and status are required", false},
		{"no content", s.CreateRelease(ctx, sampleRelease("r2", 0), nil), "content is required", false},
		{"negative wave", s.CreateRelease(ctx, negative, []byte("{}")), "must not be negative", false},
		{"update unknown", s.UpdateRelease(ctx, sampleRelease("nope", 0)), "release nope", true},
		{"update without status", s.UpdateRelease(ctx, noStatus), "status is required", false},
		{"update negative", s.UpdateRelease(ctx, func() fleet.Release { r := sampleRelease("r1", 0); r.Position.Stage = -2; return r }()), "must not be negative", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !contains(tt.err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", tt.err, tt.want)
			}
			if got := errors.Is(tt.err, state.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", tt.err, got, tt.notFound)
			}
		})
	}
	if _, _, err := s.ReleaseByID(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("ReleaseByID(nope): %v, want ErrNotFound", err)
	}
	// The failed create left nothing behind.
	if _, _, err := s.ReleaseByID(ctx, "r2"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("ReleaseByID(r2) after failed creates: %v, want ErrNotFound", err)
	}
}

func TestReleasesAndActiveReleases(t *testing.T) { testReleasesAndActiveReleases(t, sqliteBackend) }

func testReleasesAndActiveReleases(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	// Created out of time order, with a tie (r3, r4) that insertion order breaks.
	rs := []fleet.Release{
		sampleRelease("r2", 2), sampleRelease("r1", 1), sampleRelease("r3", 3), sampleRelease("r4", 3), sampleRelease("r5", 5),
	}
	rs[0].Status = fleet.ReleaseRunning
	rs[1].Status = fleet.ReleaseSucceeded
	rs[4].Status = fleet.ReleaseSuperseded
	other := sampleRelease("o1", 0)
	other.Pipeline = "api"
	for _, r := range append(slices.Clone(rs), other) {
		if err := s.CreateRelease(ctx, r, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rs []fleet.Release) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all", 0, []string{"r5", "r4", "r3", "r2", "r1"}},
		{"negative limit", -1, []string{"r5", "r4", "r3", "r2", "r1"}},
		{"limit", 2, []string{"r5", "r4"}},
	}
	for _, tt := range tests {
		got, err := s.Releases(ctx, "web", tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("Releases %s (-want +got):\n%s", tt.name, diff)
		}
	}
	got, err := s.Releases(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Release{rs[4]}, got); diff != "" {
		t.Errorf("Releases(web, 1) (-want +got):\n%s", diff)
	}

	active, err := s.ActiveReleases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Release{rs[0], rs[2], rs[3]}, active); diff != "" {
		t.Errorf("ActiveReleases(web) (-want +got):\n%s", diff)
	}
	// Finishing a release takes it off the active list.
	rs[0].Status, rs[0].EndedAt = fleet.ReleaseSucceeded, at(20)
	if err := s.UpdateRelease(ctx, rs[0]); err != nil {
		t.Fatal(err)
	}
	active, err = s.ActiveReleases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"r3", "r4"}, ids(active)); diff != "" {
		t.Errorf("ActiveReleases(web) after r2 ended (-want +got):\n%s", diff)
	}
	none, err := s.ActiveReleases(ctx, "nope")
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("ActiveReleases(nope) = %v, %v; want empty, nil", none, err)
	}
}

func TestApprovals(t *testing.T) { testApprovals(t, sqliteBackend) }

func testApprovals(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	if err := s.CreateRelease(ctx, sampleRelease("r1", 0), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Approval(ctx, "r1", "prod"); a != nil || err != nil {
		t.Fatalf("Approval before any decision = %+v, %v; want nil, nil", a, err)
	}
	first := fleet.Approval{Release: "r1", Stage: "prod", Approved: true, By: "alice", Comment: "lgtm", At: at(1)}
	if err := s.Decide(ctx, first); err != nil {
		t.Fatal(err)
	}
	reject := fleet.Approval{Release: "r1", Stage: "gamma", By: "bob", At: at(2)}
	if err := s.Decide(ctx, reject); err != nil {
		t.Fatal(err)
	}
	for _, want := range []fleet.Approval{first, reject} {
		got, err := s.Approval(ctx, want.Release, want.Stage)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Approval(%s) (-want +got):\n%s", want.Stage, diff)
		}
	}

	// A second decision is refused, names the first, and leaves it in place.
	err := s.Decide(ctx, fleet.Approval{Release: "r1", Stage: "prod", Approved: false, By: "mallory", At: at(3)})
	decided, ok := errors.AsType[*state.DecidedError](err)
	if !ok {
		t.Fatalf("second decision: %v, want *DecidedError", err)
	}
	if diff := cmp.Diff(first, decided.First); diff != "" {
		t.Errorf("DecidedError.First (-want +got):\n%s", diff)
	}
	for _, want := range []string{"stage prod of release r1 was already approved by alice", `"lgtm"`} {
		if !contains(err.Error(), want) {
			t.Errorf("second decision error %q does not say %q", err, want)
		}
	}
	if err := s.Decide(ctx, fleet.Approval{Release: "r1", Stage: "gamma", Approved: true}); err == nil ||
		!contains(err.Error(), "already rejected by bob") {
		t.Errorf("approving a rejected stage: %v, want an error saying it was already rejected by bob", err)
	}
	got, err := s.Approval(ctx, "r1", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&first, got); diff != "" {
		t.Errorf("Approval(prod) after a second decision (-want +got):\n%s", diff)
	}

	if err := s.Decide(ctx, fleet.Approval{Release: "nope", Stage: "prod", Approved: true}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("decision on an unknown release: %v, want ErrNotFound", err)
	}
	if err := s.Decide(ctx, fleet.Approval{Release: "r1"}); err == nil || !contains(err.Error(), "release and stage are required") {
		t.Errorf("decision without a stage: %v", err)
	}
}

func TestTemplates(t *testing.T) { testTemplates(t, sqliteBackend) }

func testTemplates(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	body := []byte("Resources:\n  B:\n    Type: AWS::S3::Bucket\n\x00\xff")
	hash := fleet.Hash(string(body))
	for i := range 3 { // idempotent
		if err := s.PutTemplate(ctx, hash, body); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	got, err := s.Template(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("Template = %q, want %q", got, body)
	}

	other := []byte("Resources: {}")
	tests := []struct {
		name string
		hash string
		body []byte
		want string
	}{
		{"wrong hash", hash, other, "not the hash of the body"},
		{"empty", fleet.Hash(""), nil, "body is empty"},
	}
	for _, tt := range tests {
		if err := s.PutTemplate(ctx, tt.hash, tt.body); err == nil || !contains(err.Error(), tt.want) {
			t.Errorf("PutTemplate %s: %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	if got, err := s.Template(ctx, hash); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Template after refused puts = %q, %v; want the first body", got, err)
	}
	if _, err := s.Template(ctx, fleet.Hash(string(other))); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Template of an unknown hash: %v, want ErrNotFound", err)
	}
}

func TestGateRecords(t *testing.T) { testGateRecords(t, sqliteBackend) }

func testGateRecords(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	for _, id := range []string{"r1", "r2"} {
		if err := s.CreateRelease(ctx, sampleRelease(id, 0), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	recs := []fleet.GateRecord{
		{Release: "r1", Stage: 0, Wave: 0, Gate: "alarms", Target: "111111111111/eu-west-1", Status: "PASSED", At: at(1)},
		{Release: "r2", Stage: 0, Wave: 0, Gate: "bake", Status: "RUNNING"},
		{Release: "r1", Stage: 0, Wave: 1, Gate: "test:smoke", Target: "111111111111/us-east-1", Status: "FAILED",
			Reason: "exit status 1", Output: "FAIL: TestSmoke\n", At: at(2)},
		// Added later with an earlier time: insertion order wins.
		{Release: "r1", Stage: 0, Wave: 0, Gate: "health", Status: "PASSED", At: at(0)},
	}
	if err := s.AddGateRecords(ctx, recs[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddGateRecords(ctx, recs[3]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddGateRecords(ctx); err != nil {
		t.Fatal(err)
	}
	// A batch naming an unknown release adds nothing.
	err := s.AddGateRecords(ctx, fleet.GateRecord{Release: "r1", Gate: "lost"}, fleet.GateRecord{Release: "nope", Gate: "x"})
	if !errors.Is(err, state.ErrNotFound) || !contains(err.Error(), "release nope") {
		t.Errorf("AddGateRecords with an unknown release: %v, want ErrNotFound naming it", err)
	}
	if err := s.AddGateRecords(ctx, fleet.GateRecord{Gate: "x"}); err == nil || !contains(err.Error(), "release is required") {
		t.Errorf("AddGateRecords without a release: %v", err)
	}
	for _, tt := range []struct {
		id   string
		want []fleet.GateRecord
	}{
		{"r1", []fleet.GateRecord{recs[0], recs[2], recs[3]}},
		{"r2", []fleet.GateRecord{recs[1]}},
		{"nope", []fleet.GateRecord{}},
	} {
		got, err := s.GateRecords(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("GateRecords(%s) (-want +got):\n%s", tt.id, diff)
		}
	}
}

// TestReleaseTxIsAtomic moves a release and finishes a step in one Update: when the step fails,
// the release does not move either.
func TestReleaseTxIsAtomic(t *testing.T) { testReleaseTxIsAtomic(t, sqliteBackend) }

func testReleaseTxIsAtomic(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	r := sampleRelease("r1", 0)
	if err := s.CreateRelease(ctx, r, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	moved := r
	moved.Status, moved.Position = fleet.ReleaseRunning, fleet.Position{Wave: 1, Phase: fleet.PhaseDeploy, Since: at(4)}
	err := s.Update(ctx, func(tx *state.Tx) error {
		if err := tx.UpdateRelease(moved); err != nil {
			return err
		}
		return tx.UpdateStep("no-such-op", fleet.StepRecord{Target: fleet.Target{Account: "1", Region: "r"}, Status: "SUCCEEDED"})
	})
	if !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Update: %v, want ErrNotFound from the step", err)
	}
	got, _, err := s.ReleaseByID(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("release after a failed Update moved (-want +got):\n%s", diff)
	}

	// Superseding: the queue read and the writes happen in one transaction.
	if err := s.CreateRelease(ctx, sampleRelease("r2", 1), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	newest := sampleRelease("r3", 2)
	err = s.Update(ctx, func(tx *state.Tx) error {
		queued, err := tx.ActiveReleases("web")
		if err != nil {
			return err
		}
		for _, q := range queued {
			q.Status, q.EndedAt, q.Reason = fleet.ReleaseSuperseded, at(2), "superseded by r3"
			if err := tx.UpdateRelease(q); err != nil {
				return err
			}
		}
		return tx.CreateRelease(newest, []byte(`{}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.ActiveReleases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Release{newest}, active); diff != "" {
		t.Errorf("ActiveReleases after superseding (-want +got):\n%s", diff)
	}
}

// v1Tables are the tables of schema version 1, the last one without pipelines.
var v1Tables = []string{"events", "instances", "locks", "operations", "schema_version", "sqlite_sequence", "steps"}

// schemaOf returns the schema SQL of the database in dir, sorted, without schema_version rows.
func schemaOf(t *testing.T, dir string) []string {
	t.Helper()
	db := rawDB(t, dir)
	defer db.Close()
	rows, err := db.Query("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrationFromV1 opens a database at schema version 1 holding data, as the stackfleet before
// pipelines left it — a stack set's instance, and a pipeline stack's instance under the old
// stack-set-shaped key "pipeline/<p>/<stack>". The migration keeps the data, gives each instance
// its typed owner, lets the first configuration to open the state claim it, and yields the same
// schema as a new database.
func TestMigrationFromV1(t *testing.T) {
	ctx := t.Context()
	fresh := t.TempDir()
	open(t, fresh)
	want := schemaOf(t, fresh)

	dir := t.TempDir()
	db := rawDB(t, dir)
	if err := state.MigrateTo(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	if got := schemaOf(t, dir); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "release") }) {
		t.Fatalf("version 1 schema mentions releases:\n%s", strings.Join(got, "\n"))
	}
	op := fleet.Operation{ID: "op-1", StackSet: "web", Status: fleet.OpSucceeded, Plan: samplePlan(), StartedAt: at(0)}
	plan, err := json.Marshal(op.Plan)
	if err != nil {
		t.Fatal(err)
	}
	base := fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "1", Region: "r"}, StackID: "arn:web",
		Status: fleet.Current, Detail: fleet.StepSucceeded, Deployed: fleet.Version{TemplateHash: "t1"},
		LastGood: &fleet.Version{TemplateHash: "t1"}, Outputs: map[string]string{"Url": "u"}, LastOperation: "op-1", UpdatedAt: at(1)}
	app := base
	app.Owner, app.StackID, app.LastGood, app.Outputs = fleet.PipelineOwner("web", "app"), "arn:app", &fleet.Version{TemplateHash: "t0"}, nil
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO operations (id, stack_set, status, plan, started_at, ended_at, reason) VALUES (?, ?, ?, ?, ?, NULL, '')`,
			[]any{op.ID, op.StackSet, string(op.Status), string(plan), at(0).UnixNano()}},
		{`INSERT INTO instances VALUES ('web', 'r', '1', 'arn:web', 'CURRENT', 'SUCCEEDED', '', '{"TemplateHash":"t1"}', '{"TemplateHash":"t1"}', '{"Url":"u"}', 'op-1', ?)`,
			[]any{at(1).UnixNano()}},
		{`INSERT INTO instances VALUES ('pipeline/web/app', 'r', '1', 'arn:app', 'CURRENT', 'SUCCEEDED', '', '{"TemplateHash":"t1"}', '{"TemplateHash":"t0"}', NULL, 'op-1', ?)`,
			[]any{at(1).UnixNano()}},
	}
	for _, st := range stmts {
		if _, err := db.Exec(st.q, st.args...); err != nil {
			t.Fatalf("%s: %v", st.q, err)
		}
	}
	db.Close()

	s, err := state.OpenFor(ctx, dir, "fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if diff := cmp.Diff(want, schemaOf(t, dir)); diff != "" {
		t.Errorf("schema after migration differs from a new database's (-want +got):\n%s", diff)
	}
	gotOp, _, err := s.Operation(ctx, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(op, gotOp); diff != "" {
		t.Errorf("operation after migration (-want +got):\n%s", diff)
	}
	for _, in := range []fleet.Instance{base, app} {
		got, err := s.Instances(ctx, in.Owner)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]fleet.Instance{in}, got); diff != "" {
			t.Errorf("instances of %s after migration (-want +got):\n%s", in.Owner, diff)
		}
	}
	if got, err := s.Instances(ctx, fleet.StackSetOwner("pipeline/web/app")); err != nil || len(got) != 0 {
		t.Errorf("instances under the old key after migration = %v, %v; want none", got, err)
	}
	owners, err := s.Owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOwners := []state.OwnerRecord{{Owner: fleet.PipelineOwner("web", "app"), Config: "fleet.yaml"}, {Owner: fleet.StackSetOwner("web"), Config: "fleet.yaml"}}
	if diff := cmp.Diff(wantOwners, owners); diff != "" {
		t.Errorf("owners after migration (-want +got):\n%s", diff)
	}
	if err := s.CreateRelease(ctx, sampleRelease("r1", 0), []byte(`{}`)); err != nil {
		t.Fatalf("CreateRelease after migration: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestPipelineConcurrentWriters has two Stores on one database race: each goroutine creates and
// moves its own releases, every goroutine decides the same stages and stores the same templates.
// Exactly one decision per stage wins, and nothing is lost.
func TestPipelineConcurrentWriters(t *testing.T) { testPipelineConcurrentWriters(t, sqliteBackend) }

func testPipelineConcurrentWriters(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.fresh(t)
	stores := []*state.Store{b.open(t, dir), b.open(t, dir)}
	if err := stores[0].CreateRelease(ctx, sampleRelease("shared", 0), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	const goroutines, perG, stages = 8, 10, 3
	body := []byte("Resources: {}")
	hash := fleet.Hash(string(body))
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	won := make([][]string, goroutines) // stages whose decision this goroutine took
	for g := range goroutines {
		s := stores[g%len(stores)]
		wg.Go(func() {
			errs[g] = func() error {
				for i := range perG {
					r := sampleRelease(fmt.Sprintf("g%d-%d", g, i), i)
					if err := s.CreateRelease(ctx, r, fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)); err != nil {
						return err
					}
					r.Status, r.Position = fleet.ReleaseRunning, fleet.Position{Stage: 1, Wave: i, Phase: fleet.PhaseDeploy}
					if err := s.UpdateRelease(ctx, r); err != nil {
						return err
					}
					if err := s.AddGateRecords(ctx, fleet.GateRecord{Release: "shared", Wave: i, Gate: fmt.Sprint(g)}); err != nil {
						return err
					}
					if err := s.PutTemplate(ctx, hash, body); err != nil {
						return err
					}
				}
				for st := range stages {
					err := s.Decide(ctx, fleet.Approval{Release: "shared", Stage: fmt.Sprint(st), Approved: true, By: fmt.Sprint(g)})
					if _, lost := errors.AsType[*state.DecidedError](err); lost {
						continue
					}
					if err != nil {
						return err
					}
					won[g] = append(won[g], fmt.Sprint(st))
				}
				return nil
			}()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	s := stores[1]
	winners := map[string]string{}
	for g, stages := range won {
		for _, st := range stages {
			if prev, ok := winners[st]; ok {
				t.Errorf("stage %s decided by both %s and %d", st, prev, g)
			}
			winners[st] = fmt.Sprint(g)
		}
	}
	for st := range stages {
		a, err := s.Approval(ctx, "shared", fmt.Sprint(st))
		if err != nil {
			t.Fatal(err)
		}
		if a == nil || a.By != winners[fmt.Sprint(st)] {
			t.Errorf("Approval(stage %d) = %+v, want the one decision that succeeded (by %q)", st, a, winners[fmt.Sprint(st)])
		}
	}
	active, err := s.ActiveReleases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != goroutines*perG+1 { // the shared one stays queued
		t.Errorf("ActiveReleases: %d releases, want %d", len(active), goroutines*perG+1)
	}
	for g := range goroutines {
		id := fmt.Sprintf("g%d-%d", g, perG-1)
		r, content, err := s.ReleaseByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, perG-1); r.Status != fleet.ReleaseRunning || r.Position.Wave != perG-1 || string(content) != want {
			t.Errorf("release %s = %+v, content %s; want RUNNING at wave %d with %s", id, r, content, perG-1, want)
		}
	}
	recs, err := s.GateRecords(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	// Each goroutine's own records keep its order.
	next := map[string]int{}
	for _, rec := range recs {
		if rec.Wave != next[rec.Gate] {
			t.Errorf("goroutine %s: record for wave %d, want wave %d next", rec.Gate, rec.Wave, next[rec.Gate])
		}
		next[rec.Gate] = rec.Wave + 1
	}
	if len(recs) != goroutines*perG {
		t.Errorf("GateRecords: %d, want %d", len(recs), goroutines*perG)
	}
	if got, err := s.Template(ctx, hash); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Template = %q, %v", got, err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestMigrationOfEvents opens a database at schema version 3 holding an operation's and a
// release's events in one table: after the migration the release's read back as release events.
func TestMigrationOfEvents(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db := rawDB(t, dir)
	if err := state.MigrateTo(ctx, db, 3); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO releases (id, pipeline, version, status, stage, wave, phase, reason, content) VALUES ('rel-1', 'web', 'v1', 'SUCCEEDED', 0, 0, 'DONE', '', '{}')`,
		`INSERT INTO events (operation, stack_set, time, kind, account, region, status, reason, logical_id, resource_type) VALUES ('op-1', 'base', 1, 'operation', NULL, NULL, 'RUNNING', '', '', '')`,
		`INSERT INTO events (operation, stack_set, time, kind, account, region, status, reason, logical_id, resource_type) VALUES ('rel-1', 'web', 2, 'wave', NULL, NULL, 'DEPLOYING', 'w1: 2 targets', '', '')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := state.OpenFor(ctx, dir, "fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	got, _, err := s.Events(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.Event{
		fleet.OperationEvent{Operation: "op-1", StackSet: "base", EventDetail: fleet.EventDetail{Time: time.Unix(0, 1).UTC(), Kind: fleet.EventOperation, Status: "RUNNING"}},
		fleet.ReleaseEvent{Release: "rel-1", Pipeline: "web", EventDetail: fleet.EventDetail{Time: time.Unix(0, 2).UTC(), Kind: fleet.EventWave, Status: "DEPLOYING", Reason: "w1: 2 targets"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events after migration (-want +got):\n%s", diff)
	}
	// The database as it was is kept beside it, and is a state of version 3.
	backup := filepath.Join(dir, state.FileName+".v3.bak")
	raw, err := sql.Open("sqlite", backup)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("SELECT max(version) FROM schema_version").Scan(&v); err != nil || v != 3 {
		t.Errorf("backup %s: version %d, %v; want 3", backup, v, err)
	}
}
