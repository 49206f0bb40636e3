// Package durable runs stackfleet's operations on Temporal: the executor of `executor:
// temporal`. It drives the same engine as the local executor — the rollout schedule of
// rollout.Region and the per-item step of apply.Executor — from workflows instead of goroutines:
//
//   - OperationWorkflow runs one recorded stack-set operation. Its workflow id names the stack
//     set (OperationWorkflowID), so that the id is the lock: one open workflow per stack set.
//   - RegionWorkflow, a child per region (in order, or all at once, as the preferences say), runs
//     the region's steps as activities under the StackSets concurrency and failure tolerance, and
//     continues as new before its history grows long.
//   - Activities do what touches the world — the journal (PostgreSQL, shared by the team) and the
//     stacks — keyed by operation and step: a deploy carries the operation's client request
//     token, so an activity retried after a worker died recognises its own work.
//
// Workflow inputs and histories hold ids, indexes and statuses, never a template or a parameter
// value: the activities read those from the journal, where secrets are sealed.
package durable

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

// DefaultTaskQueue is the task queue workers poll when the configuration names none.
const DefaultTaskQueue = "stackfleet"

// Limits of a region workflow's run, far from Temporal's (51,200 history events, 2,000 pending
// activities per execution).
const (
	// DefaultStepsPerRun is how many steps a region workflow starts before it lets those in
	// flight finish and continues as new (a step costs about six history events); it continues
	// sooner when the server suggests it.
	DefaultStepsPerRun = 1_000
	// MaxInFlight bounds the activities a region workflow has pending at once.
	MaxInFlight = 1_000
)

// OperationWorkflowID is the workflow id of the operations of a stack set of the configuration
// config: the lock that lets one run at a time.
func OperationWorkflowID(config, stackSet string) string {
	return fmt.Sprintf("stackfleet/%s/stack-set/%s", config, stackSet)
}

// DesiredRef is what an operation deploys, by reference: the template is in the journal under
// its hash.
type DesiredRef struct {
	TemplateHash string
	Tags         map[string]string
	Capabilities []string
	Assets       *fleet.Assets
}

// OperationInput names a recorded operation and what it deploys.
type OperationInput struct {
	Operation string
	StackSet  string
	Desired   DesiredRef
	// StepsPerRun overrides DefaultStepsPerRun (tests).
	StepsPerRun int
}

// Schedule is an operation's steps as the workflow runs them.
type Schedule struct {
	Preferences fleet.Preferences
	// Status is every step's status before this run, in the operation's order.
	Status []fleet.StepStatus
	// Regions in the order they run (sequential), each with its steps' indexes.
	Regions []RegionSteps
}

// RegionSteps are the steps of one region, by index in the operation.
type RegionSteps struct {
	Region string
	Index  []int
}

// RegionInput is one region of an operation.
type RegionInput struct {
	Op          OperationInput
	Preferences fleet.Preferences
	Region      string
	Index       []int
	// Status is the status of each step of Index before this run.
	Status []fleet.StepStatus
}

// RegionResult is how a region ended: each step's status (aligned with RegionInput.Index) and
// whether its failures stopped it.
type RegionResult struct {
	Status  []fleet.StepStatus
	Stopped bool
}

// StepInput is one step of an operation.
type StepInput struct {
	Op    OperationInput
	Index int
}

// CancelInput is steps of an operation that will not run, and why; StoppedRegion, if set, is
// announced as stopped on failures.
type CancelInput struct {
	Op            OperationInput
	Index         []int
	Reason        string
	StoppedRegion string
}

// ConcludeInput is the end of an operation's run.
type ConcludeInput struct {
	Op     OperationInput
	Result rollout.Result
}

// activities is the zero value the workflows name activities by.
var activities *Activities

// journalOptions are those of the activities that only read or write the journal: short, and
// retried until the journal answers.
var journalOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
}

// DeployHeartbeat is the heartbeat timeout of a deploy: a worker that dies mid-deploy has its
// step retried elsewhere this long after its last heartbeat.
const DeployHeartbeat = 30 * time.Second

// deployOptions are those of a step's deploy: as long as CloudFormation may take, heartbeating,
// retried (idempotently, under the operation's token) when a worker dies or the journal fails.
var deployOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 24 * time.Hour,
	HeartbeatTimeout:    DeployHeartbeat,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		NonRetryableErrorTypes: []string{nonRetryable}},
}

// OperationWorkflow runs a recorded operation to its end and returns it as recorded. Cancelling
// the workflow abandons the operation: its unfinished steps become CANCELLED.
func OperationWorkflow(ctx workflow.Context, in OperationInput) (fleet.Operation, error) {
	jctx := workflow.WithActivityOptions(ctx, journalOptions)
	var s Schedule
	if err := workflow.ExecuteActivity(jctx, activities.BeginOperation, in).Get(jctx, &s); err != nil {
		return fleet.Operation{}, err
	}
	status := slices.Clone(s.Status)
	var stopped []string
	region := func(r RegionSteps) workflow.ChildWorkflowFuture {
		in := RegionInput{Op: in, Preferences: s.Preferences, Region: r.Region, Index: r.Index, Status: make([]fleet.StepStatus, len(r.Index))}
		for j, i := range r.Index {
			in.Status[j] = status[i]
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + r.Region})
		return workflow.ExecuteChildWorkflow(cctx, RegionWorkflow, in)
	}
	collect := func(r RegionSteps, f workflow.ChildWorkflowFuture) error {
		var res RegionResult
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		for j, i := range r.Index {
			status[i] = res.Status[j]
		}
		if res.Stopped {
			stopped = append(stopped, r.Region)
		}
		return nil
	}
	var err error
	if s.Preferences.RegionConcurrency == fleet.Parallel {
		futures := make([]workflow.ChildWorkflowFuture, len(s.Regions))
		for k, r := range s.Regions {
			futures[k] = region(r)
		}
		for k, r := range s.Regions {
			err = cmpErr(err, collect(r, futures[k]))
		}
	} else {
		for _, r := range s.Regions {
			if ctx.Err() != nil {
				break
			}
			if len(stopped) > 0 {
				var rest []int
				for _, i := range r.Index {
					if !status[i].Done() {
						rest = append(rest, i)
						status[i] = fleet.StepCancelled
					}
				}
				c := CancelInput{Op: in, Index: rest, Reason: rollout.EarlierRegionReason}
				if err = workflow.ExecuteActivity(jctx, activities.CancelSteps, c).Get(jctx, nil); err != nil {
					break
				}
				continue
			}
			if err = collect(r, region(r)); err != nil {
				break
			}
		}
	}
	if ctx.Err() != nil {
		// Cancelled: abandon what is left, whatever the regions' ends were.
		dctx, cancel := workflow.NewDisconnectedContext(jctx)
		defer cancel()
		var op fleet.Operation
		err := workflow.ExecuteActivity(dctx, activities.AbandonOperation, in).Get(dctx, &op)
		return op, err
	}
	if err != nil {
		return fleet.Operation{}, err
	}
	var op fleet.Operation
	c := ConcludeInput{Op: in, Result: rollout.Result{Steps: status, Reasons: make([]string, len(status)), StoppedRegions: stopped}}
	for _, st := range status {
		if !st.Done() {
			c.Result.Interrupted = true
		}
	}
	err = workflow.ExecuteActivity(jctx, activities.ConcludeOperation, c).Get(jctx, &op)
	return op, err
}

// cmpErr keeps the first error.
func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// RegionWorkflow runs the steps of one region of an operation with the StackSets schedule of
// rollout.Region: as many at once as the preferences allow (at most MaxInFlight), a failure
// counted against the tolerance, the steps not reached cancelled when the region stops. After
// StepsPerRun steps (or when the server suggests it) it lets the steps in flight finish and
// continues as new with the statuses so far.
func RegionWorkflow(ctx workflow.Context, in RegionInput) (RegionResult, error) {
	status := slices.Clone(in.Status)
	positions := make([]int, len(in.Index))
	for j := range positions {
		positions[j] = j
	}
	sched := rollout.NewRegion(in.Preferences, positions, status)
	budget := in.Op.StepsPerRun
	if budget <= 0 {
		budget = DefaultStepsPerRun
	}
	started := 0
	actx := workflow.WithActivityOptions(ctx, deployOptions)
	sel := workflow.NewSelector(ctx)
	draining := false
	for {
		for !draining && ctx.Err() == nil && sched.Running() < MaxInFlight {
			j, ok := sched.Next()
			if !ok {
				break
			}
			status[j] = fleet.StepRunning
			started++
			f := workflow.ExecuteActivity(actx, activities.DeployStep, StepInput{Op: in.Op, Index: in.Index[j]})
			sel.AddFuture(f, func(f workflow.Future) {
				var out rollout.Outcome
				err := f.Get(ctx, &out)
				switch {
				case err != nil && ctx.Err() != nil:
					status[j] = fleet.StepPending // interrupted: a resume re-checks it
				case err != nil, out.Failed:
					status[j] = fleet.StepFailed
				default:
					status[j] = fleet.StepSucceeded
				}
				sched.Finished(status[j])
			})
			draining = started >= budget || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}
		if sched.Running() == 0 {
			break
		}
		sel.Select(ctx)
		draining = draining || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}
	res := RegionResult{Status: status, Stopped: sched.Stopped()}
	switch {
	case ctx.Err() != nil:
		return res, nil
	case sched.Stopped():
		c := CancelInput{Op: in.Op, Reason: rollout.RegionStoppedReason, StoppedRegion: in.Region}
		for _, j := range sched.Unreached() {
			c.Index = append(c.Index, in.Index[j])
			status[j] = fleet.StepCancelled
		}
		jctx := workflow.WithActivityOptions(ctx, journalOptions)
		return res, workflow.ExecuteActivity(jctx, activities.CancelSteps, c).Get(jctx, nil)
	case draining && slices.ContainsFunc(status, func(s fleet.StepStatus) bool { return !s.Done() }):
		next := in
		next.Status = status
		return RegionResult{}, workflow.NewContinueAsNewError(ctx, RegionWorkflow, next)
	}
	return res, nil
}
