package apply_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// memJournal is an in-memory Journal.
type memJournal struct {
	mu        sync.Mutex
	lock      map[string]string
	ops       map[string]fleet.Operation
	steps     map[string]map[fleet.Target]fleet.StepRecord
	instances map[fleet.Target]fleet.Instance
}

var _ apply.Journal = (*memJournal)(nil)

func newJournal() *memJournal {
	return &memJournal{lock: map[string]string{}, ops: map[string]fleet.Operation{},
		steps: map[string]map[fleet.Target]fleet.StepRecord{}, instances: map[fleet.Target]fleet.Instance{}}
}

func (j *memJournal) Acquire(_ context.Context, ss, op string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if h, ok := j.lock[ss]; ok && h != op {
		return "", fmt.Errorf("locked by %s", h)
	}
	j.lock[ss] = op
	return "", nil
}
func (j *memJournal) Release(_ context.Context, ss, op string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.lock, ss)
	return nil
}
func (j *memJournal) CreateOperation(_ context.Context, op fleet.Operation, steps []fleet.StepRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ops[op.ID] = op
	j.steps[op.ID] = map[fleet.Target]fleet.StepRecord{}
	for _, s := range steps {
		j.steps[op.ID][s.Target] = s
	}
	return nil
}
func (j *memJournal) UpdateOperation(_ context.Context, id string, st fleet.OperationStatus, reason string, ended time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	op := j.ops[id]
	op.Status, op.Reason, op.EndedAt = st, reason, ended
	j.ops[id] = op
	return nil
}
func (j *memJournal) Operation(_ context.Context, id string) (fleet.Operation, []fleet.StepRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []fleet.StepRecord
	for _, a := range j.ops[id].Plan.Actions {
		out = append(out, j.steps[id][a.Target])
	}
	return j.ops[id], out, nil
}
func (j *memJournal) Unfinished(_ context.Context, ss string) (*fleet.Operation, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, op := range j.ops {
		if op.StackSet == ss && !op.Status.Done() {
			return &op, nil
		}
	}
	return nil, nil
}
func (j *memJournal) Instances(_ context.Context, _ fleet.Owner) ([]fleet.Instance, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []fleet.Instance
	for _, in := range j.instances {
		out = append(out, in)
	}
	return out, nil
}
func (j *memJournal) Record(_ context.Context, c apply.Change) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c.Step != nil {
		j.steps[c.Operation][c.Step.Target] = *c.Step
	}
	if c.Put != nil {
		j.instances[c.Put.Target] = *c.Put
	}
	if c.Delete != nil {
		delete(j.instances, *c.Delete)
	}
	return nil
}

// fakeDeployer fails the accounts in fail and records calls.
type fakeDeployer struct {
	mu    sync.Mutex
	fail  map[string]string
	calls []string
	block func(ctx context.Context, t fleet.Target) // optional hook
}

func (f *fakeDeployer) Deploy(ctx context.Context, t fleet.Target, req apply.DeployRequest, progress func(apply.ResourceEvent)) (apply.DeployResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "deploy "+t.String())
	reason, fail := f.fail[t.Account]
	f.mu.Unlock()
	if f.block != nil {
		f.block(ctx, t)
		if ctx.Err() != nil {
			return apply.DeployResult{}, ctx.Err()
		}
	}
	if fail {
		progress(apply.ResourceEvent{LogicalID: "Bucket", Type: "AWS::S3::Bucket", Status: "CREATE_FAILED", Reason: reason})
		return apply.DeployResult{}, errors.New("Bucket (AWS::S3::Bucket) CREATE_FAILED: " + reason)
	}
	return apply.DeployResult{StackID: "arn:" + t.String(), Outputs: map[string]string{"Env": req.Parameters["Env"]}}, nil
}

func (f *fakeDeployer) Delete(ctx context.Context, t fleet.Target, name string, _ func(apply.ResourceEvent)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete "+t.String())
	return nil
}

func ptr(n int) *int { return &n }

func planFor(accounts ...string) fleet.StackSetPlan {
	sp := fleet.StackSetPlan{Name: "base", TemplateHash: "t1", Preferences: fleet.Preferences{FailureTolerance: fleet.Limit{Count: ptr(0)}}}
	for _, a := range accounts {
		params := map[string]string{"Env": "dev-" + a}
		sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Create, Target: fleet.Target{Account: a, Region: "us-east-1"},
			TemplateHash: "t1", ParamsHash: fleet.HashParameters(params), Parameters: params})
	}
	return sp
}

var desired = apply.Desired{Name: "base", TemplateBody: []byte("Resources: {}")}

func TestStartRecordsInstances(t *testing.T) {
	j, d := newJournal(), &fakeDeployer{}
	r, err := apply.New(j, d, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := r.Start(t.Context(), desired, planFor("111", "222"))
	if err != nil || op.Status != fleet.OpSucceeded {
		t.Fatalf("Start() = %v, %v; want SUCCEEDED", op.Status, err)
	}
	got := j.instances[fleet.Target{Account: "222", Region: "us-east-1"}]
	if got.Status != fleet.Current || got.Outputs["Env"] != "dev-222" || got.LastGood == nil || got.Deployed.TemplateHash != "t1" {
		t.Errorf("instance = %+v", got)
	}
	if len(j.lock) != 0 {
		t.Errorf("lock still held: %v", j.lock)
	}
}

func TestFailureStopsAndCancels(t *testing.T) {
	j, d := newJournal(), &fakeDeployer{fail: map[string]string{"111": "bucket exists"}}
	prev := fleet.Instance{Owner: fleet.StackSetOwner("base"), Target: fleet.Target{Account: "222", Region: "us-east-1"}, Status: fleet.Current}
	j.instances[prev.Target] = prev
	r, _ := apply.New(j, d, nil, nil, nil)
	op, err := r.Start(t.Context(), desired, planFor("111", "222"))
	if err != nil || op.Status != fleet.OpFailed {
		t.Fatalf("Start() = %v, %v; want FAILED", op.Status, err)
	}
	failed := j.instances[fleet.Target{Account: "111", Region: "us-east-1"}]
	if failed.Status != fleet.Outdated || failed.Reason != "Bucket (AWS::S3::Bucket) CREATE_FAILED: bucket exists" {
		t.Errorf("failed instance = %+v", failed)
	}
	if got := j.instances[prev.Target]; got.Status != fleet.Outdated || got.Detail != "CANCELLED" {
		t.Errorf("instance the operation did not reach = %s/%s, want OUTDATED/CANCELLED", got.Status, got.Detail)
	}
	if diff := cmp.Diff([]string{"deploy 111/us-east-1"}, d.calls); diff != "" {
		t.Error(diff)
	}
}

func TestResumeRunsOnlyUnfinishedSteps(t *testing.T) {
	j := newJournal()
	ctx, cancel := context.WithCancel(t.Context())
	// The first run is interrupted while deploying 222.
	d := &fakeDeployer{block: func(c context.Context, tg fleet.Target) {
		if tg.Account == "222" {
			cancel()
			<-c.Done()
		}
	}}
	r, _ := apply.New(j, d, nil, nil, nil)
	op, err := r.Start(ctx, desired, planFor("111", "222", "333"))
	if err != nil || op.Status != fleet.OpStopped {
		t.Fatalf("interrupted Start() = %v, %v; want STOPPED", op.Status, err)
	}
	d2 := &fakeDeployer{}
	r2, _ := apply.New(j, d2, nil, nil, nil)
	unfinished, _ := j.Unfinished(t.Context(), "base")
	if unfinished == nil || unfinished.ID != op.ID {
		t.Fatalf("unfinished operation = %v, want %s", unfinished, op.ID)
	}
	op2, err := r2.Resume(t.Context(), desired, unfinished.ID)
	if err != nil || op2.ID != op.ID || op2.Status != fleet.OpSucceeded {
		t.Fatalf("Resume() = %s %v, %v; want %s SUCCEEDED", op2.ID, op2.Status, err, op.ID)
	}
	if diff := cmp.Diff([]string{"deploy 222/us-east-1", "deploy 333/us-east-1"}, d2.calls); diff != "" {
		t.Errorf("resumed deploys (-want +got):\n%s", diff)
	}
	if len(j.instances) != 3 {
		t.Errorf("%d instances recorded, want 3", len(j.instances))
	}
	if u, _ := j.Unfinished(t.Context(), "base"); u != nil {
		t.Errorf("operation %s still unfinished after it succeeded", u.ID)
	}
}

// regionlessDeployer cannot reach its region at all, as where a region is not enabled.
type regionlessDeployer struct{ fakeDeployer }

var errNoRegion = errors.New("InvalidClientTokenId: the region is not enabled")

func (d *regionlessDeployer) Delete(context.Context, fleet.Target, string, func(apply.ResourceEvent)) error {
	return errNoRegion
}
func (d *regionlessDeployer) RegionUnavailable(err error) bool { return errors.Is(err, errNoRegion) }

// An instance whose stack never existed — it was never created, in a region that cannot be used
// — can always be removed: the record is forgotten. One with a stack is not, and turns INOPERABLE.
func TestDeleteOfAStackThatNeverExisted(t *testing.T) {
	j, d := newJournal(), &regionlessDeployer{}
	never := fleet.Instance{Owner: fleet.StackSetOwner("base"), Target: fleet.Target{Account: "111", Region: "us-east-9"}, Status: fleet.Outdated, Detail: fleet.StepFailed}
	had := fleet.Instance{Owner: fleet.StackSetOwner("base"), Target: fleet.Target{Account: "222", Region: "us-east-9"}, StackID: "arn:stack", Status: fleet.Current}
	j.instances[never.Target], j.instances[had.Target] = never, had
	r, _ := apply.New(j, d, nil, nil, nil)
	sp := fleet.StackSetPlan{Name: "base", Preferences: fleet.Preferences{FailureTolerance: fleet.Limit{Count: ptr(5)}},
		Actions: []fleet.Action{{Kind: fleet.Delete, Target: never.Target}, {Kind: fleet.Delete, Target: had.Target}}}
	if _, err := r.Start(t.Context(), desired, sp); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.instances[never.Target]; ok {
		t.Error("the record of a stack that never existed was kept")
	}
	if got := j.instances[had.Target]; got.Status != fleet.Inoperable {
		t.Errorf("an instance with a stack whose delete failed: %s, want INOPERABLE", got.Status)
	}
}
