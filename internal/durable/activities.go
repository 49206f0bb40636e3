package durable

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

// nonRetryable is the error type of activity errors no retry can mend.
const nonRetryable = "StackfleetInvalid"

// Journal is what the activities read and write: the executor's journal and the templates.
type Journal interface {
	apply.Journal
	Template(ctx context.Context, hash string) ([]byte, error)
}

// Activities are the steps of the workflows that touch the world. One value serves every
// activity of a worker; it keeps what it read of an operation until the operation ends.
type Activities struct {
	// Runner runs the operations' steps: its executor deploys, records and publishes.
	Runner  *apply.Runner
	Journal Journal
	// Flush, if set, returns once the events published so far are journaled: the command that
	// started an operation reads them from the journal, and must find them all when it ends.
	Flush func()
	// Heartbeat is how often a deploy heartbeats (default a third of DeployHeartbeat).
	Heartbeat time.Duration

	mu  sync.Mutex
	ops map[string]*loaded
}

// loaded is what an operation's activities need, read once per worker.
type loaded struct {
	mu    sync.Mutex
	ready bool
	op    fleet.Operation
	batch apply.Batch
	prior map[fleet.Target]fleet.Instance
}

// load returns the operation of in, read from the journal the first time.
func (a *Activities) load(ctx context.Context, in OperationInput) (*loaded, error) {
	a.mu.Lock()
	if a.ops == nil {
		a.ops = map[string]*loaded{}
	}
	l := a.ops[in.Operation]
	if l == nil {
		l = &loaded{}
		a.ops[in.Operation] = l
	}
	a.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		return l, nil
	}
	op, steps, err := a.Journal.Operation(ctx, in.Operation)
	if err != nil {
		return nil, fmt.Errorf("read operation %s: %w", in.Operation, err)
	}
	if op.StackSet != in.StackSet {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("operation %s is of stack set %q, not %q", in.Operation, op.StackSet, in.StackSet), nonRetryable, nil)
	}
	d := apply.Desired{Name: op.StackSet, Assets: in.Desired.Assets, Tags: in.Desired.Tags, Capabilities: in.Desired.Capabilities}
	if h := in.Desired.TemplateHash; h != "" {
		if d.TemplateBody, err = a.Journal.Template(ctx, h); err != nil {
			return nil, fmt.Errorf("read template %s of operation %s: %w", h, in.Operation, err)
		}
	}
	b := apply.OperationBatch(op, steps, d)
	prior, err := a.Runner.Executor().Prior(ctx, b.Owner)
	if err != nil {
		return nil, err
	}
	l.op, l.batch, l.prior, l.ready = op, b, prior, true
	return l, nil
}

// forget drops what was read of an operation that ended.
func (a *Activities) forget(id string) {
	a.mu.Lock()
	delete(a.ops, id)
	a.mu.Unlock()
}

func (a *Activities) flush() {
	if a.Flush != nil {
		a.Flush()
	}
}

// BeginOperation announces the operation and returns its schedule.
func (a *Activities) BeginOperation(ctx context.Context, in OperationInput) (Schedule, error) {
	l, err := a.load(ctx, in)
	if err != nil {
		return Schedule{}, err
	}
	s := Schedule{Preferences: l.op.Plan.Preferences, Status: make([]fleet.StepStatus, len(l.batch.Items))}
	byRegion := map[string][]int{}
	var regions []string
	for i, it := range l.batch.Items {
		s.Status[i] = it.Status
		if _, ok := byRegion[it.Target.Region]; !ok {
			regions = append(regions, it.Target.Region)
		}
		byRegion[it.Target.Region] = append(byRegion[it.Target.Region], i)
	}
	for _, r := range fleet.OrderRegions(regions, s.Preferences.RegionOrder) {
		s.Regions = append(s.Regions, RegionSteps{Region: r, Index: byRegion[r]})
	}
	a.Runner.Started(l.op, len(l.batch.Items))
	return s, nil
}

// DeployStep deploys one step of an operation and records it, heartbeating meanwhile. A deploy
// that fails is an outcome, not an error; an error (the activity ended, or the journal failed
// before the deploy started) has Temporal retry the step, which stays RUNNING until it ends.
func (a *Activities) DeployStep(ctx context.Context, in StepInput) (rollout.Outcome, error) {
	l, err := a.load(ctx, in.Op)
	if err != nil {
		return rollout.Outcome{}, err
	}
	if in.Index < 0 || in.Index >= len(l.batch.Items) {
		return rollout.Outcome{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("operation %s has no step %d", in.Op.Operation, in.Index), nonRetryable, nil)
	}
	stop := a.heartbeat(ctx)
	defer stop()
	out := a.Runner.Executor().Step(ctx, l.batch, l.batch.Items[in.Index], l.prior)
	if out.Failed && ctx.Err() != nil {
		return out, ctx.Err()
	}
	return out, nil
}

// heartbeat heartbeats the activity of ctx until stopped.
func (a *Activities) heartbeat(ctx context.Context) (stop func()) {
	every := a.Heartbeat
	if every <= 0 {
		every = DeployHeartbeat / 3
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// CancelSteps records steps that will not run (a region stopped, or an earlier one did).
func (a *Activities) CancelSteps(ctx context.Context, in CancelInput) error {
	l, err := a.load(ctx, in.Op)
	if err != nil {
		return err
	}
	x := a.Runner.Executor()
	for _, i := range in.Index {
		if i < 0 || i >= len(l.batch.Items) {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("operation %s has no step %d", in.Op.Operation, i), nonRetryable, nil)
		}
		x.Cancel(l.batch, l.batch.Items[i].Target, in.Reason, l.prior)
	}
	if in.StoppedRegion != "" {
		x.StopRegion(l.batch, in.StoppedRegion)
	}
	return nil
}

// ConcludeOperation records how the operation ended and returns it.
func (a *Activities) ConcludeOperation(ctx context.Context, in ConcludeInput) (fleet.Operation, error) {
	l, err := a.load(ctx, in.Op)
	if err != nil {
		return fleet.Operation{}, err
	}
	if len(in.Result.Steps) != len(l.batch.Items) {
		return fleet.Operation{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("operation %s: %d step results for %d steps", in.Op.Operation, len(in.Result.Steps), len(l.batch.Items)), nonRetryable, nil)
	}
	op, err := a.Runner.Conclude(l.op, in.Result)
	if err != nil {
		return op, err
	}
	a.flush()
	a.forget(in.Op.Operation)
	return op, nil
}

// CancelledReason is the reason of an operation whose workflow was cancelled.
const CancelledReason = "cancelled: its workflow was cancelled"

// AbandonOperation cancels what is left of an operation whose workflow was cancelled.
func (a *Activities) AbandonOperation(ctx context.Context, in OperationInput) (fleet.Operation, error) {
	if err := a.Runner.AbandonHeld(ctx, in.StackSet, in.Operation, CancelledReason); err != nil {
		return fleet.Operation{}, err
	}
	a.flush()
	a.forget(in.Operation)
	op, _, err := a.Journal.Operation(ctx, in.Operation)
	if err != nil {
		return op, errors.Join(errors.New("read the cancelled operation"), err)
	}
	return op, nil
}
