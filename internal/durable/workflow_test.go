package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/durable"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

// deployer is a fake: instant deploys, failures and one-time crashes by target, and deploys
// that wait for their context to end.
type deployer struct {
	mu     sync.Mutex
	calls  map[fleet.Target]int
	tokens map[fleet.Target][]string
	fail   map[fleet.Target]bool
	crash  map[fleet.Target]bool // the first deploy panics, as a worker dying mid-deploy
	block  map[fleet.Target]bool
}

func newDeployer() *deployer {
	return &deployer{calls: map[fleet.Target]int{}, tokens: map[fleet.Target][]string{},
		fail: map[fleet.Target]bool{}, crash: map[fleet.Target]bool{}, block: map[fleet.Target]bool{}}
}

func (d *deployer) Deploy(ctx context.Context, t fleet.Target, req apply.DeployRequest, _ func(apply.ResourceEvent)) (apply.DeployResult, error) {
	d.mu.Lock()
	d.calls[t]++
	d.tokens[t] = append(d.tokens[t], req.Token)
	crash := d.crash[t] && d.calls[t] == 1
	fail, block := d.fail[t], d.block[t]
	d.mu.Unlock()
	switch {
	case crash:
		panic("worker died mid-deploy")
	case block:
		<-ctx.Done()
		return apply.DeployResult{}, ctx.Err()
	case fail:
		return apply.DeployResult{}, errors.New("Queue: CREATE_FAILED (injected)")
	}
	return apply.DeployResult{StackID: "arn:aws:cloudformation:" + t.Region + ":" + t.Account + ":stack/x/1", Outputs: map[string]string{"Out": t.Account}}, nil
}

func (d *deployer) Delete(context.Context, fleet.Target, string, func(apply.ResourceEvent)) error {
	return nil
}

func (d *deployer) count(t fleet.Target) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[t]
}

func ptr(n int) *int { return &n }

// plan is a stack set's plan creating it in accounts × regions.
func plan(prefs fleet.Preferences, accounts int, regions ...string) fleet.StackSetPlan {
	sp := fleet.StackSetPlan{Name: "base", Preferences: prefs}
	for _, r := range regions {
		for a := range accounts {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Create, Target: fleet.Target{Account: fmt.Sprintf("1000000000%02d", a), Region: r},
				TemplateHash: fleet.Hash("body"), Parameters: map[string]string{"P": "v"}})
		}
	}
	return sp
}

var body = []byte("body")

func openStore(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(t.Context(), filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runLocal runs the plan with the local executor and returns the operation and its steps.
func runLocal(t *testing.T, sp fleet.StackSetPlan, d *deployer) (fleet.Operation, []fleet.StepRecord) {
	t.Helper()
	s := openStore(t)
	r, err := apply.New(state.Journal{Store: s}, d, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := r.Start(t.Context(), apply.Desired{Name: sp.Name, TemplateBody: body}, sp)
	if err != nil {
		t.Fatal(err)
	}
	op, steps, err := s.Operation(t.Context(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	return op, steps
}

// temporalRun is an operation recorded in a journal, ready to run in a test workflow environment.
type temporalRun struct {
	env   *testsuite.TestWorkflowEnvironment
	store *state.Store
	in    durable.OperationInput
	// regionRegistered: the test registered its own RegionWorkflow.
	regionRegistered bool
}

func newTemporalRun(t *testing.T, sp fleet.StackSetPlan, d *deployer) *temporalRun {
	t.Helper()
	s := openStore(t)
	r, err := apply.New(state.Journal{Store: s}, d, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, steps := apply.NewOperation(time.Now(), sp)
	if err := s.CreateOperation(t.Context(), op, steps); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTemplate(t.Context(), fleet.Hash(string(body)), body); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(durable.OperationWorkflow)
	env.RegisterActivity(&durable.Activities{Runner: r, Journal: state.Journal{Store: s}, Heartbeat: time.Second})
	return &temporalRun{env: env, store: s, in: durable.OperationInput{Operation: op.ID, StackSet: sp.Name, Desired: durable.DesiredRef{TemplateHash: fleet.Hash(string(body))}}}
}

// run executes the workflow and returns the operation as recorded.
func (tr *temporalRun) run(t *testing.T) (fleet.Operation, []fleet.StepRecord) {
	t.Helper()
	if !tr.regionRegistered {
		tr.env.RegisterWorkflow(durable.RegionWorkflow)
	}
	tr.env.ExecuteWorkflow(durable.OperationWorkflow, tr.in)
	if !tr.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var got fleet.Operation
	if err := tr.env.GetWorkflowResult(&got); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	op, steps, err := tr.store.Operation(t.Context(), tr.in.Operation)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != op.Status {
		t.Errorf("workflow returned %s, journal has %s", got.Status, op.Status)
	}
	return op, steps
}

// outcome is what two executors must agree on: the operation's end and every step's.
type outcome struct {
	Status fleet.OperationStatus
	Reason string
	Failed int
	Steps  map[fleet.Target]string
}

func outcomeOf(op fleet.Operation, steps []fleet.StepRecord) outcome {
	o := outcome{Status: op.Status, Reason: op.Reason, Failed: op.FailedSteps, Steps: map[fleet.Target]string{}}
	for _, s := range steps {
		o.Steps[s.Target] = string(s.Status) + ": " + s.Reason
	}
	return o
}

// The Temporal executor runs the engine the local one runs: for the same plan, preferences and
// failures, the operation ends the same way, step for step, and every step deploys once.
func TestOperationWorkflowMatchesLocalExecutor(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	cases := []struct {
		name  string
		prefs fleet.Preferences
		fail  []fleet.Target
	}{
		{"sequential, all succeed", fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(2)}, FailureTolerance: fleet.Limit{Count: ptr(0)}}, nil},
		{"sequential, a failure stops the region and the next ones",
			fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(1)}, FailureTolerance: fleet.Limit{Count: ptr(0)}},
			[]fleet.Target{{Account: "100000000002", Region: "eu-west-1"}}},
		{"parallel, a failure within the tolerance",
			fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(3)}, FailureTolerance: fleet.Limit{Count: ptr(1)}, RegionConcurrency: fleet.Parallel},
			[]fleet.Target{{Account: "100000000001", Region: "us-east-1"}}},
		{"parallel, one region stops, the others go on",
			fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(1)}, FailureTolerance: fleet.Limit{Count: ptr(0)}, RegionConcurrency: fleet.Parallel},
			[]fleet.Target{{Account: "100000000000", Region: "ap-south-1"}}},
		{"soft mode, regions in a given order",
			fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(4)}, FailureTolerance: fleet.Limit{Count: ptr(1)}, Mode: fleet.Soft,
				RegionOrder: []string{"ap-south-1", "us-east-1", "eu-west-1"}},
			[]fleet.Target{{Account: "100000000001", Region: "ap-south-1"}, {Account: "100000000003", Region: "ap-south-1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := plan(c.prefs, 5, regions...)
			local, temporal := newDeployer(), newDeployer()
			for _, f := range c.fail {
				local.fail[f], temporal.fail[f] = true, true
			}
			want := outcomeOf(runLocal(t, sp, local))
			got := outcomeOf(newTemporalRun(t, sp, temporal).run(t))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Temporal executor differs from the local one (-local +temporal):\n%s", diff)
			}
			for _, a := range sp.Actions {
				if n := temporal.count(a.Target); n != local.count(a.Target) || n > 1 {
					t.Errorf("%s deployed %d times on Temporal, %d locally", a.Target, n, local.count(a.Target))
				}
			}
		})
	}
}

// A worker dying mid-deploy (the activity panics after the step was recorded RUNNING) has the
// step retried, under the same client request token: the operation succeeds and the instance is
// recorded once.
func TestOperationWorkflowRetriesAStepWhoseWorkerDied(t *testing.T) {
	sp := plan(fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(2)}, FailureTolerance: fleet.Limit{Count: ptr(0)}}, 4, "us-east-1")
	d := newDeployer()
	crashed := fleet.Target{Account: "100000000002", Region: "us-east-1"}
	d.crash[crashed] = true
	tr := newTemporalRun(t, sp, d)
	op, steps := tr.run(t)
	if op.Status != fleet.OpSucceeded {
		t.Fatalf("operation %s (%s), want SUCCEEDED", op.Status, op.Reason)
	}
	for _, s := range steps {
		if s.Status != fleet.StepSucceeded {
			t.Errorf("step %s: %s", s.Target, s.Status)
		}
	}
	if n := d.count(crashed); n != 2 {
		t.Errorf("crashed target deployed %d times, want 2 (the crash and the retry)", n)
	}
	if tok := d.tokens[crashed]; len(tok) != 2 || tok[0] != tok[1] || tok[0] != "stackfleet-"+op.ID {
		t.Errorf("tokens of the retried deploy: %q, want the operation's token twice", tok)
	}
	ins, err := tr.store.Instances(t.Context(), fleet.StackSetOwner("base"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 4 {
		t.Errorf("%d instances recorded, want 4", len(ins))
	}
}

// A region longer than its history budget continues as new: every step runs once, none twice.
func TestRegionWorkflowContinuesAsNew(t *testing.T) {
	sp := plan(fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(5)}, FailureTolerance: fleet.Limit{Count: ptr(0)}}, 60, "us-east-1")
	d := newDeployer()
	tr := newTemporalRun(t, sp, d)
	tr.in.StepsPerRun = 25
	runs := 0
	tr.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in durable.RegionInput) (durable.RegionResult, error) {
		runs++
		return durable.RegionWorkflow(ctx, in)
	}, workflow.RegisterOptions{Name: "RegionWorkflow"})
	tr.regionRegistered = true
	op, steps := tr.run(t)
	if op.Status != fleet.OpSucceeded {
		t.Fatalf("operation %s (%s)", op.Status, op.Reason)
	}
	for _, s := range steps {
		if s.Status != fleet.StepSucceeded {
			t.Errorf("step %s: %s", s.Target, s.Status)
		}
	}
	for _, a := range sp.Actions {
		if n := d.count(a.Target); n != 1 {
			t.Errorf("%s deployed %d times", a.Target, n)
		}
	}
	if runs != 3 {
		t.Errorf("the region ran in %d workflow runs, want 3 (60 steps, 25 per run)", runs)
	}
}

// Cancelling the workflow abandons the operation: what is deploying is stopped, and every step
// not finished becomes CANCELLED.
func TestOperationWorkflowCancelled(t *testing.T) {
	sp := plan(fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(2)}, FailureTolerance: fleet.Limit{Count: ptr(0)}}, 6, "us-east-1")
	d := newDeployer()
	for _, a := range sp.Actions[2:] {
		d.block[a.Target] = true
	}
	tr := newTemporalRun(t, sp, d)
	var once sync.Once
	tr.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in durable.StepInput
		if info.ActivityType.Name == "DeployStep" && args.Get(&in) == nil && in.Index >= 2 {
			once.Do(func() { go tr.env.CancelWorkflow() })
		}
	})
	op, steps := tr.run(t)
	if op.Status != fleet.OpCancelled {
		t.Fatalf("operation %s (%s), want CANCELLED", op.Status, op.Reason)
	}
	want := map[fleet.StepStatus]int{fleet.StepSucceeded: 2, fleet.StepCancelled: 4}
	got := map[fleet.StepStatus]int{}
	for _, s := range steps {
		got[s.Status]++
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("step statuses (-want +got):\n%s", diff)
	}
}
