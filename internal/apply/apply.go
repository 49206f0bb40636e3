// Package apply is stackfleet's one executor. An Executor deploys a Batch of instance changes of
// one owner under a Policy — StackSets preferences for a stack-set operation, or a release
// wave's — through a Deployer, with the rollout engine; it records every result together with the
// instance it produced, keeps the last known good version as the policy says, and publishes
// events. A Runner makes a stack set's plan a journaled operation on top of it: it takes the
// stack set's lock and records the operation and its steps, so that a killed process can resume
// the operation without deploying any instance twice or forgetting one. The release engine
// (package pipeline) runs its waves and rollbacks through the same Executor.
package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

// Locker serialises the operations of a stack set.
type Locker interface {
	// Acquire takes the stack set's lock for opID; previous names a dead holder's operation.
	Acquire(ctx context.Context, stackSet, opID string) (previous string, err error)
	Release(ctx context.Context, stackSet, opID string) error
}

// OperationStore records operations and their steps.
type OperationStore interface {
	CreateOperation(ctx context.Context, op fleet.Operation, steps []fleet.StepRecord) error
	UpdateOperation(ctx context.Context, id string, status fleet.OperationStatus, reason string, ended time.Time) error
	Operation(ctx context.Context, id string) (fleet.Operation, []fleet.StepRecord, error)
}

// Journal is the durable state operations need.
type Journal interface {
	Locker
	OperationStore
	InstanceStore
}

// DeployRequest is what one instance should become.
type DeployRequest struct {
	StackName    string
	TemplateBody []byte
	Parameters   map[string]string
	Tags         map[string]string
	Capabilities []string
	// Assets are published in the target before the stack deploys; nil for none.
	Assets *fleet.Assets
	// Token is stable per operation and target, so a resumed deploy recognises its own work.
	Token string
	// RevertDrift also writes the template's properties back over resources changed outside
	// CloudFormation.
	RevertDrift bool
	// Absent says the plan found no stack and no earlier attempt of this step ran: the deployer
	// may create it without looking first (it must still cope with a stack that exists).
	Absent bool
}

// DeployResult is the stack a successful deploy left.
type DeployResult struct {
	StackID string
	Outputs map[string]string
	// Changed is when the stack last changed, as CloudFormation reports it after the deploy.
	Changed time.Time
}

// ResourceEvent is a CloudFormation resource event worth reporting while a deploy runs.
type ResourceEvent struct {
	LogicalID, Type, Status, Reason string
}

// Deployer deploys and deletes the stack of one target. Deploy and Delete must be idempotent
// (resume calls them again for steps that were running) and return errors whose message names
// the first failing resource and the reason.
type Deployer interface {
	Deploy(ctx context.Context, t fleet.Target, req DeployRequest, progress func(ResourceEvent)) (DeployResult, error)
	Delete(ctx context.Context, t fleet.Target, stackName string, progress func(ResourceEvent)) error
}

// Runner runs journaled stack-set operations through the Executor.
type Runner struct {
	locks Locker
	ops   OperationStore
	exec  *Executor
	log   *slog.Logger
}

// New returns a Runner; journal and deployer are required (events default to none, clock to
// the system clock).
func New(journal Journal, deployer Deployer, events EventSink, clock Clock, log *slog.Logger) (*Runner, error) {
	if journal == nil || deployer == nil {
		return nil, errors.New("apply: journal and deployer are required")
	}
	if events == nil {
		events = Discard{}
	}
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{locks: journal, ops: journal, log: log,
		exec: &Executor{Deployer: deployer, Store: journal, Events: events, Clock: clock}}, nil
}

// Desired is the stack set as the operation deploys it (template, tags, capabilities).
type Desired struct {
	Name         string
	TemplateBody []byte
	Assets       *fleet.Assets
	Tags         map[string]string
	Capabilities []string
}

// NewOperationID returns a sortable, unique operation id.
func NewOperationID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// NewOperation is the operation that runs the stack set's plan, and its steps: one per action
// that changes something (no-change actions are not steps). With no step there is nothing to run.
func NewOperation(now time.Time, sp fleet.StackSetPlan) (fleet.Operation, []fleet.StepRecord) {
	op := fleet.Operation{ID: NewOperationID(now), StackSet: sp.Name, Status: fleet.OpRunning, Plan: sp, StartedAt: now.UTC()}
	op.Plan.Actions = nil
	var steps []fleet.StepRecord
	for _, a := range sp.Actions {
		if a.Kind == fleet.NoChange {
			continue
		}
		op.Plan.Actions = append(op.Plan.Actions, a)
		steps = append(steps, fleet.StepRecord{Target: a.Target, Status: fleet.StepPending, UpdatedAt: op.StartedAt})
	}
	return op, steps
}

// Start records a new operation for the stack set's plan and runs it. The plan's no-change
// actions are not steps. It returns the finished (or stopped) operation.
func (r *Runner) Start(ctx context.Context, d Desired, sp fleet.StackSetPlan) (fleet.Operation, error) {
	op, steps := NewOperation(r.exec.now(), sp)
	if len(steps) == 0 {
		return fleet.Operation{StackSet: sp.Name, Status: fleet.OpSucceeded}, nil
	}
	if _, err := r.locks.Acquire(ctx, sp.Name, op.ID); err != nil {
		return op, err
	}
	defer r.release(sp.Name, op.ID)
	if err := r.ops.CreateOperation(ctx, op, steps); err != nil {
		return op, fmt.Errorf("record operation: %w", err)
	}
	return r.run(ctx, d, op, steps)
}

// Resume continues the unfinished operation opID of the stack set. Steps that were running are
// re-checked through the (idempotent) deployer.
func (r *Runner) Resume(ctx context.Context, d Desired, opID string) (fleet.Operation, error) {
	if _, err := r.locks.Acquire(ctx, d.Name, opID); err != nil {
		return fleet.Operation{ID: opID, StackSet: d.Name}, err
	}
	defer r.release(d.Name, opID)
	op, steps, err := r.ops.Operation(ctx, opID)
	if err != nil {
		return op, fmt.Errorf("read operation %s: %w", opID, err)
	}
	r.emit(op, "RESUMED", fmt.Sprintf("resuming operation %s started %s", op.ID, op.StartedAt.Format(time.RFC3339)))
	if err := r.ops.UpdateOperation(ctx, op.ID, fleet.OpRunning, "", time.Time{}); err != nil {
		return op, err
	}
	return r.run(ctx, d, op, steps)
}

// Abandon cancels the unfinished operation opID of the stack set: its steps that are not final
// become CANCELLED and the operation CANCELLED with reason; nothing of it is deployed anymore.
// It takes the stack set's lock, so an operation still running in a live process is refused.
func (r *Runner) Abandon(ctx context.Context, stackSet, opID, reason string) error {
	if _, err := r.locks.Acquire(ctx, stackSet, opID); err != nil {
		return err
	}
	defer r.release(stackSet, opID)
	return r.AbandonHeld(ctx, stackSet, opID, reason)
}

// AbandonHeld is Abandon for a caller that serialises the stack set's operations itself (the
// Temporal executor, whose workflow id is the lock).
func (r *Runner) AbandonHeld(ctx context.Context, stackSet, opID, reason string) error {
	op, steps, err := r.ops.Operation(ctx, opID)
	if err != nil {
		return fmt.Errorf("read operation %s: %w", opID, err)
	}
	now := r.exec.now()
	for _, st := range steps {
		if st.Status.Done() {
			continue
		}
		c := Change{Owner: fleet.StackSetOwner(stackSet), Operation: opID,
			Step: &fleet.StepRecord{Target: st.Target, Status: fleet.StepCancelled, Reason: reason, UpdatedAt: now}}
		if err := r.exec.Store.Record(ctx, c); err != nil {
			return err
		}
	}
	if err := r.ops.UpdateOperation(ctx, opID, fleet.OpCancelled, reason, now); err != nil {
		return err
	}
	r.emit(op, string(fleet.OpCancelled), reason)
	return nil
}

func (r *Runner) release(stackSet, opID string) {
	// The lock must be released even when ctx was cancelled (Ctrl-C).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.locks.Release(ctx, stackSet, opID); err != nil {
		r.log.Warn("release lock", "stackSet", stackSet, "operation", opID, "error", err)
	}
}

// emit publishes an operation event of op.
func (r *Runner) emit(op fleet.Operation, status, reason string) {
	r.exec.Events.Publish(fleet.OperationEvent{Operation: op.ID, StackSet: op.StackSet,
		EventDetail: fleet.EventDetail{Time: r.exec.now(), Kind: fleet.EventOperation, Status: status, Reason: reason}})
}

// Executor is the executor the Runner runs its batches with.
func (r *Runner) Executor() *Executor { return r.exec }

// OperationBatch is the batch that runs op's steps (records: their statuses so far) with d.
func OperationBatch(op fleet.Operation, records []fleet.StepRecord, d Desired) Batch {
	status := make(map[fleet.Target]fleet.StepStatus, len(records))
	for _, rec := range records {
		status[rec.Target] = rec.Status
	}
	b := Batch{
		Owner: fleet.StackSetOwner(op.StackSet), Operation: op.ID, Event: fleet.OperationEvent{Operation: op.ID, StackSet: op.StackSet},
		Policy:       Policy{Preferences: op.Plan.Preferences, LastGood: GoodOnSuccess, Journaled: true},
		TemplateBody: d.TemplateBody, Assets: d.Assets, Tags: d.Tags, Capabilities: d.Capabilities, Token: "stackfleet-" + op.ID,
	}
	for _, a := range op.Plan.Actions {
		b.Items = append(b.Items, Item{Kind: a.Kind, Target: a.Target, Status: status[a.Target], RevertDrift: a.RevertDrift,
			Version: fleet.Version{TemplateHash: a.TemplateHash, ParamsHash: a.ParamsHash, Parameters: a.Parameters}})
	}
	return b
}

// Started announces that op runs its n steps.
func (r *Runner) Started(op fleet.Operation, n int) {
	r.emit(op, string(fleet.OpRunning), fmt.Sprintf("%d steps", n))
}

// run executes the steps of op that are not final.
func (r *Runner) run(ctx context.Context, d Desired, op fleet.Operation, records []fleet.StepRecord) (fleet.Operation, error) {
	b := OperationBatch(op, records, d)
	r.Started(op, len(b.Items))
	res, err := r.exec.Run(ctx, b)
	if err != nil {
		return op, err
	}
	return r.Conclude(op, res)
}

// Conclude records and announces how op ended, from the result of its batch: stopped if it was
// interrupted, failed if a region stopped, succeeded otherwise (with the failures within the
// tolerance counted).
func (r *Runner) Conclude(op fleet.Operation, res rollout.Result) (fleet.Operation, error) {
	final, reason := fleet.OpSucceeded, ""
	switch {
	case res.Interrupted:
		final, reason = fleet.OpStopped, "interrupted; run apply again to resume"
	case res.Failed():
		final, reason = fleet.OpFailed, fmt.Sprintf("failures exceeded the failure tolerance in %v", res.StoppedRegions)
	}
	op.Status, op.Reason, op.EndedAt = final, reason, r.exec.now()
	op.FailedSteps = 0
	for _, st := range res.Steps {
		if st == fleet.StepFailed {
			op.FailedSteps++
		}
	}
	if final == fleet.OpSucceeded && op.FailedSteps > 0 {
		op.Reason = fmt.Sprintf("%d instance(s) failed within the failure tolerance", op.FailedSteps)
	}
	uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.ops.UpdateOperation(uctx, op.ID, final, op.Reason, op.EndedAt); err != nil {
		return op, fmt.Errorf("record operation result: %w", err)
	}
	r.emit(op, string(final), op.Reason)
	return op, nil
}
