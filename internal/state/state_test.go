package state_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

// A backend is a kind of database that a Store keeps the journal in. The tests of what a Store
// does, whichever database holds it, take one: their Test function runs them on SQLite, and
// TestPostgres runs them again on PostgreSQL.
type backend struct {
	name string
	// fresh returns a new, empty journal: a state directory, or a PostgreSQL database's DSN.
	fresh func(t testing.TB) string
	// openFor opens a Store on the journal where, acting for config.
	openFor func(ctx context.Context, where, config string) (*state.Store, error)
	// raw opens the database of journal where itself, for tests that must shape what the Store
	// hides. Queries on it take the database's own placeholders.
	raw func(t testing.TB, where string) *sql.DB
	// childEnv tells a child process (startChild) which journal to open.
	childEnv func(where string) string
}

var sqliteBackend = backend{
	name:     "sqlite",
	fresh:    func(t testing.TB) string { return t.TempDir() },
	openFor:  state.OpenFor,
	raw:      rawDB,
	childEnv: func(dir string) string { return "STATE_DIR=" + dir },
}

// open opens a Store on the journal where, closed when the test ends.
func (b backend) open(t testing.TB, where string) *state.Store {
	t.Helper()
	s, err := b.openFor(t.Context(), where, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// open opens a Store on the SQLite state in dir, closed when the test ends.
func open(t testing.TB, dir string) *state.Store { return sqliteBackend.open(t, dir) }

func ptr(n int) *int { return &n }

// at is a time in a non-UTC zone with nanoseconds, to show that instants survive.
func at(sec int) time.Time {
	return time.Date(2025, 3, 4, 5, 6, sec, 123456789, time.FixedZone("X", 3600))
}

func samplePlan() fleet.StackSetPlan {
	return fleet.StackSetPlan{
		Name:         "web",
		TemplateHash: "abc",
		Preferences: fleet.Preferences{
			MaxConcurrent:     fleet.Limit{Percentage: ptr(50)},
			FailureTolerance:  fleet.Limit{Count: ptr(2)},
			RegionOrder:       []string{"eu-west-1", "us-east-1"},
			RegionConcurrency: fleet.Parallel,
			Mode:              fleet.Soft,
		},
		Actions: []fleet.Action{
			{
				Kind: fleet.Create, Target: fleet.Target{Account: "111111111111", Region: "eu-west-1"},
				TemplateHash: "abc", ParamsHash: "p1", Parameters: map[string]string{"Env": "prod"},
				Changes:      []fleet.ResourceChange{{Action: "Add", LogicalID: "Bucket", Type: "AWS::S3::Bucket"}},
				ParamChanges: []fleet.ParamChange{{Name: "Env", Old: "", New: "prod"}},
				Reason:       "new target",
			},
			{Kind: fleet.Delete, Target: fleet.Target{Account: "222222222222", Region: "us-east-1"}, Reason: "target left"},
		},
	}
}

func sampleSteps() []fleet.StepRecord {
	return []fleet.StepRecord{
		// Not sorted: steps keep plan order.
		{Target: fleet.Target{Account: "222222222222", Region: "us-east-1"}, Status: "PENDING"},
		{Target: fleet.Target{Account: "111111111111", Region: "eu-west-1"}, Status: "PENDING", Reason: "queued", UpdatedAt: at(1)},
	}
}

func TestOperationRoundTrip(t *testing.T) { testOperationRoundTrip(t, sqliteBackend) }

func testOperationRoundTrip(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	op := fleet.Operation{ID: "op-1", StackSet: "web", Status: fleet.OpRunning, Plan: samplePlan(), StartedAt: at(0)}
	steps := sampleSteps()
	if err := s.CreateOperation(ctx, op, steps); err != nil {
		t.Fatal(err)
	}
	gotOp, gotSteps, err := s.Operation(ctx, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(op, gotOp); diff != "" {
		t.Errorf("Operation() op (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(steps, gotSteps); diff != "" {
		t.Errorf("Operation() steps (-want +got):\n%s", diff)
	}

	steps[0] = fleet.StepRecord{Target: steps[0].Target, Status: "FAILED", Reason: "boom", UpdatedAt: at(2)}
	if err := s.UpdateStep(ctx, "op-1", steps[0]); err != nil {
		t.Fatal(err)
	}
	op.Status, op.Reason, op.EndedAt = fleet.OpFailed, "1 failure", at(3)
	if err := s.UpdateOperation(ctx, "op-1", op.Status, op.Reason, op.EndedAt); err != nil {
		t.Fatal(err)
	}
	gotOp, gotSteps, err = s.Operation(ctx, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(op, gotOp); diff != "" {
		t.Errorf("after update, op (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(steps, gotSteps); diff != "" {
		t.Errorf("after update, steps (-want +got):\n%s", diff)
	}
}

func TestOperationErrors(t *testing.T) { testOperationErrors(t, sqliteBackend) }

func testOperationErrors(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	op := fleet.Operation{ID: "op-1", StackSet: "web", Status: fleet.OpRunning, StartedAt: at(0)}
	if err := s.CreateOperation(ctx, op, sampleSteps()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		err      error
		want     string
		notFound bool
	}{
		{"duplicate id", s.CreateOperation(ctx, op, nil), "create operation op-1: an operation with that id already exists", false},
		{"duplicate target", s.CreateOperation(ctx, fleet.Operation{ID: "op-2", StackSet: "web"}, append(sampleSteps(), sampleSteps()[0])),
			"create operation op-2: target 222222222222/us-east-1 has more than one step", false},
		{"no id", s.CreateOperation(ctx, fleet.Operation{StackSet: "web"}, nil), `create operation: id and stack set are required (got "", "web")`, false},
		{"unknown step", s.UpdateStep(ctx, "op-1", fleet.StepRecord{Target: fleet.Target{Account: "9", Region: "x"}}), "step 9/x of operation op-1: not found", true},
		{"unknown operation", s.UpdateOperation(ctx, "nope", fleet.OpFailed, "", time.Time{}), "operation nope: not found", true},
		{"read unknown operation", func() error { _, _, err := s.Operation(ctx, "nope"); return err }(), "operation nope: not found", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", tt.err, tt.want)
			}
			if got := errors.Is(tt.err, state.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", got, tt.notFound)
			}
		})
	}
	// The failed creation of op-2 left nothing behind.
	if _, _, err := s.Operation(ctx, "op-2"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("op-2 after failed creation: err = %v, want not found", err)
	}
}

func TestOperationsAndUnfinished(t *testing.T) { testOperationsAndUnfinished(t, sqliteBackend) }

func testOperationsAndUnfinished(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	ops := []fleet.Operation{
		{ID: "a1", StackSet: "a", Status: fleet.OpSucceeded, StartedAt: at(1), EndedAt: at(2)},
		{ID: "a2", StackSet: "a", Status: fleet.OpStopped, StartedAt: at(3)},
		{ID: "b1", StackSet: "b", Status: fleet.OpRunning, StartedAt: at(4)},
		{ID: "a3", StackSet: "a", Status: fleet.OpFailed, StartedAt: at(5), EndedAt: at(6)},
		{ID: "a4", StackSet: "a", Status: fleet.OpRunning, StartedAt: at(5)}, // same start: later insert is newer
	}
	for _, op := range ops {
		if err := s.CreateOperation(ctx, op, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		stackSet string
		limit    int
		want     []string
	}{
		{"a", 0, []string{"a4", "a3", "a2", "a1"}},
		{"a", 2, []string{"a4", "a3"}},
		{"b", 10, []string{"b1"}},
		{"none", 0, []string{}},
	}
	for _, tt := range tests {
		got, err := s.Operations(ctx, tt.stackSet, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, op := range got {
			ids = append(ids, op.ID)
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("Operations(%s, %d) (-want +got):\n%s", tt.stackSet, tt.limit, diff)
		}
	}

	unfinished := func(stackSet string) string {
		t.Helper()
		op, err := s.Unfinished(ctx, stackSet)
		if err != nil {
			t.Fatal(err)
		}
		if op == nil {
			return ""
		}
		return op.ID
	}
	if got := unfinished("a"); got != "a4" {
		t.Errorf("Unfinished(a) = %q, want a4", got)
	}
	if err := s.UpdateOperation(ctx, "a4", fleet.OpSucceeded, "", at(9)); err != nil {
		t.Fatal(err)
	}
	if got := unfinished("a"); got != "a2" {
		t.Errorf("Unfinished(a) after a4 succeeded = %q, want a2", got)
	}
	if got := unfinished("none"); got != "" {
		t.Errorf("Unfinished(none) = %q, want none", got)
	}

	names := func() []string {
		t.Helper()
		owners, err := s.Owners(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range owners {
			out = append(out, o.Owner.Ref())
		}
		return out
	}
	before := names()
	if err := s.PutInstance(ctx, fleet.Instance{Owner: fleet.StackSetOwner("c"), Target: fleet.Target{Account: "1", Region: "r"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutInstance(ctx, fleet.Instance{Owner: fleet.PipelineOwner("p", "app"), Target: fleet.Target{Account: "1", Region: "r"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"p/app", "a", "b", "c"}}, [][]string{before, names()}); diff != "" {
		t.Errorf("Owners (-want +got):\n%s", diff)
	}
}

func TestInstanceRoundTrip(t *testing.T) { testInstanceRoundTrip(t, sqliteBackend) }

func testInstanceRoundTrip(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	v1 := fleet.Version{TemplateHash: "t1", ParamsHash: "p1", Parameters: map[string]string{"Env": "prod"}}
	ins := []fleet.Instance{
		{
			Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "222222222222", Region: "eu-west-1"},
			StackID: "arn:aws:cloudformation:eu-west-1:222222222222:stack/x/1", Status: fleet.Current, Detail: "SUCCEEDED",
			Deployed: v1, LastGood: &v1, Outputs: map[string]string{"Url": "https://x"}, LastOperation: "op-1", UpdatedAt: at(1),
		},
		// Nil and empty outputs stay distinct.
		{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "111111111111", Region: "us-east-1"}, Status: fleet.Outdated, Detail: "FAILED",
			Reason: "boom", Outputs: map[string]string{}},
		{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "111111111111", Region: "eu-west-1"}, Status: fleet.Inoperable},
		{Owner: fleet.StackSetOwner("other"), Target: fleet.Target{Account: "111111111111", Region: "eu-west-1"}, Status: fleet.Current},
	}
	for _, in := range ins {
		if err := s.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// Upsert replaces every column.
	ins[2].Status, ins[2].Reason, ins[2].LastGood = fleet.Current, "fixed", &fleet.Version{TemplateHash: "t0"}
	if err := s.PutInstance(ctx, ins[2]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.Instance{ins[2], ins[0], ins[1]} // by region, then account
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Instances (-want +got):\n%s", diff)
	}

	if err := s.DeleteInstance(ctx, fleet.StackSetOwner("web"), ins[0].Target); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, fleet.StackSetOwner("web"), fleet.Target{Account: "9", Region: "x"}); err != nil {
		t.Errorf("deleting an unknown instance: %v", err)
	}
	got, err = s.Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Instance{ins[2], ins[1]}, got); diff != "" {
		t.Errorf("Instances after delete (-want +got):\n%s", diff)
	}
	if err := s.PutInstance(ctx, fleet.Instance{Owner: fleet.StackSetOwner("web")}); err == nil {
		t.Error("PutInstance without a target: want an error")
	}
}

func TestEvents(t *testing.T) { testEvents(t, sqliteBackend) }

func testEvents(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	tgt := fleet.Target{Account: "111111111111", Region: "eu-west-1"}
	op := func(id, set string, d fleet.EventDetail) fleet.Event {
		return fleet.OperationEvent{Operation: id, StackSet: set, EventDetail: d}
	}
	evs := []fleet.Event{
		op("op-1", "web", fleet.EventDetail{Time: at(1), Kind: fleet.EventOperation, Status: "RUNNING"}),
		op("op-1", "web", fleet.EventDetail{Time: at(2), Kind: fleet.EventStep, Target: &tgt, Status: "RUNNING"}),
		op("op-2", "api", fleet.EventDetail{Time: at(3), Kind: fleet.EventOperation, Status: "RUNNING"}),
		// A release's events are told apart from an operation's, and keep their stack.
		fleet.ReleaseEvent{Release: "op-1", Pipeline: "web", Stack: "app", EventDetail: fleet.EventDetail{
			Time: at(4), Kind: fleet.EventResource, Target: &tgt, Status: "CREATE_FAILED",
			Reason: "denied", LogicalID: "Bucket", ResourceType: "AWS::S3::Bucket"}},
		op("op-1", "web", fleet.EventDetail{Time: at(5), Kind: fleet.EventStep, Target: &fleet.Target{}, Status: "FAILED"}),
	}
	if seq, err := s.LastEventSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("LastEventSeq of an empty journal = %d, %v; want 0", seq, err)
	}
	if err := s.AppendEvents(ctx, evs[:2]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, evs[2:]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx); err != nil {
		t.Fatal(err)
	}

	got, last, err := s.Events(ctx, "op-1", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs[:2], got); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	got, last, err = s.Events(ctx, "op-1", last, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Event{evs[3], evs[4]}, got); diff != "" {
		t.Errorf("rest (-want +got):\n%s", diff)
	}
	got, again, err := s.Events(ctx, "op-1", last, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || again != last {
		t.Errorf("after the end: %d events, last %d; want none, %d", len(got), again, last)
	}
	// The newest entry of the whole journal (op-1's last, which is also the newest of all).
	if seq, err := s.LastEventSeq(ctx); err != nil || seq != last {
		t.Errorf("LastEventSeq = %d, %v; want %d", seq, err, last)
	}
	all, _, err := s.Events(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs, all); diff != "" {
		t.Errorf("every event (-want +got):\n%s", diff)
	}
}

func TestUpdateIsAtomic(t *testing.T) { testUpdateIsAtomic(t, sqliteBackend) }

func testUpdateIsAtomic(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	op := fleet.Operation{ID: "op-1", StackSet: "web", Status: fleet.OpRunning}
	tgt := fleet.Target{Account: "1", Region: "r"}
	if err := s.CreateOperation(ctx, op, []fleet.StepRecord{{Target: tgt, Status: "RUNNING"}}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx *state.Tx) error {
		if err := tx.UpdateStep("op-1", fleet.StepRecord{Target: tgt, Status: "SUCCEEDED"}); err != nil {
			return err
		}
		if err := tx.PutInstance(fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: tgt, Status: fleet.Current}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	// FinishStep fails on the unknown step before writing the instance.
	in := fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "2", Region: "r"}, Status: fleet.Current}
	if err := s.FinishStep(ctx, "op-1", fleet.StepRecord{Target: in.Target, Status: "SUCCEEDED"}, &in); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("FinishStep of an unknown step: %v", err)
	}
	_, steps, err := s.Operation(ctx, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	insts, err := s.Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Status != "RUNNING" || len(insts) != 0 {
		t.Errorf("after failed updates: step %s, %d instances; want RUNNING, none", steps[0].Status, len(insts))
	}

	in.Target = tgt
	if err := s.FinishStep(ctx, "op-1", fleet.StepRecord{Target: tgt, Status: "SUCCEEDED"}, &in); err != nil {
		t.Fatal(err)
	}
	_, steps, _ = s.Operation(ctx, "op-1")
	insts, _ = s.Instances(ctx, fleet.StackSetOwner("web"))
	if diff := cmp.Diff([]fleet.Instance{in}, insts); steps[0].Status != "SUCCEEDED" || diff != "" {
		t.Errorf("after FinishStep: step %s; instances (-want +got):\n%s", steps[0].Status, diff)
	}
}

func TestUpdatePanicReachesCaller(t *testing.T) { testUpdatePanicReachesCaller(t, sqliteBackend) }

func testUpdatePanicReachesCaller(t *testing.T, b backend) {
	s := b.open(t, b.fresh(t))
	func() {
		defer func() {
			if p := recover(); p != "bad" {
				t.Errorf("recovered %v, want bad", p)
			}
		}()
		s.Update(t.Context(), func(*state.Tx) error { panic("bad") })
	}()
	// The writer survived.
	if err := s.PutInstance(t.Context(), fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "1", Region: "r"}}); err != nil {
		t.Fatal(err)
	}
}

func TestCancelledAndClosed(t *testing.T) { testCancelledAndClosed(t, sqliteBackend) }

func testCancelledAndClosed(t *testing.T, b backend) {
	s, err := b.openFor(t.Context(), b.fresh(t), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	if err := s.Update(ctx, func(*state.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Update with a cancelled context: err %v, ran %v; want context.Canceled, not run", err, ran)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutInstance(t.Context(), fleet.Instance{Owner: fleet.StackSetOwner("x"), Target: fleet.Target{Account: "1", Region: "r"}}); !errors.Is(err, state.ErrClosed) {
		t.Errorf("write after Close: %v, want ErrClosed", err)
	}
}

func TestOpenIsIdempotentAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".stackfleet")
	testOpenIsIdempotent(t, sqliteBackend, dir)
	fi, err := os.Stat(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("state.db mode %v: want no access for group and others", perm)
	}
}

// testOpenIsIdempotent opens the journal dir (new) again and again, once two at a time.
func testOpenIsIdempotent(t *testing.T, b backend, dir string) {
	ctx := t.Context()
	s1, err := b.openFor(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	in := fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "1", Region: "r"}, Status: fleet.Current}
	if err := s1.PutInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	// Two opens at once of an existing database, and again later: migrations run once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			s, err := b.openFor(ctx, dir, "")
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	s := b.open(t, dir)
	got, err := s.Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Instance{in}, got); diff != "" {
		t.Errorf("instances after reopening (-want +got):\n%s", diff)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

func TestConcurrentOpenOfNewDatabase(t *testing.T) { testConcurrentOpenOfNewDatabase(t, sqliteBackend) }

func testConcurrentOpenOfNewDatabase(t *testing.T, b backend) {
	dir := b.fresh(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := b.openFor(t.Context(), dir, "")
			if err == nil {
				err = errors.Join(s.PutInstance(t.Context(), fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: fmt.Sprint(i), Region: "r"}}), s.Close())
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := b.open(t, dir).Instances(t.Context(), fleet.StackSetOwner("web"))
	if err != nil || len(got) != len(errs) {
		t.Fatalf("Instances: %d, %v; want %d", len(got), err, len(errs))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) { testOpenRefusesNewerSchema(t, sqliteBackend) }

func testOpenRefusesNewerSchema(t *testing.T, b backend) {
	dir := b.fresh(t)
	b.open(t, dir) // creates the schema
	// Simulate a newer stackfleet by recording a version beyond ours through the database itself.
	db := b.raw(t, dir)
	if _, err := db.Exec("INSERT INTO schema_version (version, applied_at) VALUES (1000, 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := b.openFor(t.Context(), dir, "")
	if err == nil || !contains(err.Error(), "schema version 1000 is newer than this stackfleet knows") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestTwoStoresWriteConcurrently has two Stores on one journal write at once while a reader
// follows the journal as a dashboard does: every write is kept, and the reader, which asks only
// for the events after the last it saw, sees every one — so sequence numbers follow commit order.
func TestTwoStoresWriteConcurrently(t *testing.T) { testTwoStoresWriteConcurrently(t, sqliteBackend) }

func testTwoStoresWriteConcurrently(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.fresh(t)
	stores := []*state.Store{b.open(t, dir), b.open(t, dir)}
	const perStore, goroutines = 200, 10
	var steps []fleet.StepRecord
	for i := range perStore * len(stores) {
		steps = append(steps, fleet.StepRecord{Target: fleet.Target{Account: fmt.Sprintf("%012d", i), Region: "r"}, Status: "PENDING"})
	}
	if err := stores[0].CreateOperation(ctx, fleet.Operation{ID: "op", StackSet: "web", Status: fleet.OpRunning}, steps); err != nil {
		t.Fatal(err)
	}
	written := make(chan struct{})
	type tailed struct {
		n   int
		err error
	}
	tail := make(chan tailed, 1)
	go func() {
		n, err := follow(ctx, stores[1], written)
		tail <- tailed{n, err}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*goroutines)
	for si, s := range stores {
		for g := range goroutines {
			wg.Go(func() {
				for i := si*perStore + g; i < (si+1)*perStore; i += goroutines {
					tgt := steps[i].Target
					in := fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: tgt, Status: fleet.Current, Reason: fmt.Sprint(si)}
					if err := s.FinishStep(ctx, "op", fleet.StepRecord{Target: tgt, Status: "SUCCEEDED"}, &in); err != nil {
						errs <- err
						return
					}
					if err := s.AppendEvents(ctx, fleet.OperationEvent{Operation: "op", StackSet: "web",
						EventDetail: fleet.EventDetail{Kind: fleet.EventStep, Target: &tgt, Status: "SUCCEEDED"}}); err != nil {
						errs <- err
						return
					}
					// Reads interleave with the other store's writes.
					if _, _, err := s.Events(ctx, "op", 0, 5); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(written)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	followed := <-tail
	if followed.err != nil {
		t.Fatal(followed.err)
	}
	if followed.n != len(steps) {
		t.Errorf("a reader following the journal saw %d events, want %d: some committed with a sequence number below one it had seen",
			followed.n, len(steps))
	}
	_, got, err := stores[1].Operation(ctx, "op")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range got {
		if st.Status != "SUCCEEDED" {
			t.Fatalf("step %s is %s, want SUCCEEDED", st.Target, st.Status)
		}
	}
	insts, err := stores[0].Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := stores[0].Events(ctx, "op", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != len(steps) || len(evs) != len(steps) {
		t.Errorf("%d instances, %d events; want %d of each", len(insts), len(evs), len(steps))
	}
	if err := stores[0].Check(ctx); err != nil {
		t.Error(err)
	}
}

// follow reads the journal as a live view does, asking each time for the events after the last
// one it saw, until written is closed and it has read what was committed by then. It returns how
// many events it saw.
func follow(ctx context.Context, s *state.Store, written <-chan struct{}) (int, error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var n int
	var last int64
	for {
		done := false
		select {
		case <-written:
			done = true
		case <-tick.C:
		}
		evs, next, err := s.Events(ctx, "", last, 0)
		if err != nil {
			return n, err
		}
		if len(evs) > 0 && next <= last {
			return n, fmt.Errorf("events after %d end at %d", last, next)
		}
		n, last = n+len(evs), next
		if done {
			return n, nil
		}
	}
}

// A truncated (0-byte) state database, or a SQLite database that is not stackfleet's, is refused
// rather than taken for a new state that has forgotten every instance.
func TestOpenRefusesEmptyAndForeign(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, state.FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(t.Context(), empty); err == nil || !contains(err.Error(), "is empty (0 bytes)") {
		t.Errorf("Open of a 0-byte state.db: %v", err)
	}
	testOpenRefusesForeign(t, sqliteBackend)
}

func testOpenRefusesForeign(t *testing.T, b backend) {
	foreign := b.fresh(t)
	db := b.raw(t, foreign)
	if _, err := db.Exec("CREATE TABLE photos (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := b.openFor(t.Context(), foreign, ""); err == nil || !contains(err.Error(), "is not stackfleet's (it holds the tables photos)") {
		t.Errorf("Open of another application's database: %v", err)
	}
}

// Damage to the database is found when it is opened, not built on.
func TestOpenFindsDamage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var evs []fleet.Event
	for i := range 2000 {
		evs = append(evs, fleet.OperationEvent{Operation: "op", StackSet: "web",
			EventDetail: fleet.EventDetail{Kind: fleet.EventStep, Status: "SUCCEEDED", Reason: fmt.Sprintf("event %d %s", i, strings.Repeat("x", 100))}})
	}
	if err := s.AppendEvents(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, state.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 20*4096 {
		t.Fatalf("database of %d bytes, want many pages", len(data))
	}
	// Scribble over the header of a page of the events table.
	for i := 10 * 4096; i < 10*4096+12; i++ {
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(t.Context(), dir); err == nil || !contains(err.Error(), "is damaged") {
		t.Errorf("Open of a damaged database: %v", err)
	}
}
