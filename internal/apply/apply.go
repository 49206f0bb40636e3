// Package apply executes the plan of one stack set as a journaled operation: it takes the stack
// set's lock, records the operation and its steps, runs them with the rollout engine through a
// Deployer, and records every step's result together with the instance it produced, so that a
// killed process can resume the operation without deploying any instance twice or forgetting one.
package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

// Journal is the durable state an operation needs.
type Journal interface {
	// Acquire takes the stack set's lock for opID; previous names a dead holder's operation.
	Acquire(ctx context.Context, stackSet, opID string) (previous string, err error)
	Release(ctx context.Context, stackSet, opID string) error
	CreateOperation(ctx context.Context, op fleet.Operation, steps []fleet.StepRecord) error
	UpdateOperation(ctx context.Context, id string, status fleet.OperationStatus, reason string, ended time.Time) error
	Operation(ctx context.Context, id string) (fleet.Operation, []fleet.StepRecord, error)
	Unfinished(ctx context.Context, stackSet string) (*fleet.Operation, error)
	Instances(ctx context.Context, owner fleet.Owner) ([]fleet.Instance, error)
	// Record writes a step's status and the instance change it produced in one transaction:
	// put (non-nil inst), delete (del), or neither.
	Record(ctx context.Context, opID string, owner fleet.Owner, step fleet.StepRecord, inst *fleet.Instance, del *fleet.Target) error
	AppendEvents(ctx context.Context, evs ...fleet.Event) error
}

// DeployRequest is what one instance should become.
type DeployRequest struct {
	StackName    string
	TemplateBody []byte
	Parameters   map[string]string
	Tags         map[string]string
	Capabilities []string
	// Token is stable per operation and target, so a resumed deploy recognises its own work.
	Token string
}

// DeployResult is the stack a successful deploy left.
type DeployResult struct {
	StackID string
	Outputs map[string]string
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

// Observer sees every event of an operation as it happens (views subscribe here).
type Observer func(fleet.Event)

// Runner runs operations. Its fields are dependencies; New checks them.
type Runner struct {
	journal  Journal
	deployer Deployer
	now      func() time.Time
	log      *slog.Logger
	observe  Observer
}

// New returns a Runner; journal and deployer are required.
func New(journal Journal, deployer Deployer, observe Observer, now func() time.Time, log *slog.Logger) (*Runner, error) {
	if journal == nil || deployer == nil {
		return nil, errors.New("apply: journal and deployer are required")
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if observe == nil {
		observe = func(fleet.Event) {}
	}
	return &Runner{journal: journal, deployer: deployer, now: now, log: log, observe: observe}, nil
}

// Desired is the stack set as the operation deploys it (template, tags, capabilities).
type Desired struct {
	Name         string
	TemplateBody []byte
	Tags         map[string]string
	Capabilities []string
}

// NewOperationID returns a sortable, unique operation id.
func NewOperationID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Start records a new operation for the stack set's plan and runs it. The plan's no-change
// actions are not steps. It returns the finished (or stopped) operation.
func (r *Runner) Start(ctx context.Context, d Desired, sp fleet.StackSetPlan) (fleet.Operation, error) {
	op := fleet.Operation{ID: NewOperationID(r.now()), StackSet: sp.Name, Status: fleet.OpRunning, Plan: sp, StartedAt: r.now().UTC()}
	op.Plan.Actions = nil
	var steps []fleet.StepRecord
	for _, a := range sp.Actions {
		if a.Kind == fleet.NoChange {
			continue
		}
		op.Plan.Actions = append(op.Plan.Actions, a)
		steps = append(steps, fleet.StepRecord{Target: a.Target, Status: (fleet.StepPending), UpdatedAt: op.StartedAt})
	}
	if len(steps) == 0 {
		return fleet.Operation{StackSet: sp.Name, Status: fleet.OpSucceeded}, nil
	}
	if _, err := r.journal.Acquire(ctx, sp.Name, op.ID); err != nil {
		return op, err
	}
	defer r.release(sp.Name, op.ID)
	if err := r.journal.CreateOperation(ctx, op, steps); err != nil {
		return op, fmt.Errorf("record operation: %w", err)
	}
	return r.run(ctx, d, op, steps)
}

// Resume continues an unfinished operation of the stack set, if there is one; found is false
// when there is none. Steps that were running are re-checked through the (idempotent) deployer.
func (r *Runner) Resume(ctx context.Context, d Desired) (op fleet.Operation, found bool, err error) {
	unfinished, err := r.journal.Unfinished(ctx, d.Name)
	if err != nil || unfinished == nil {
		return fleet.Operation{}, false, err
	}
	if _, err := r.journal.Acquire(ctx, d.Name, unfinished.ID); err != nil {
		return *unfinished, true, err
	}
	defer r.release(d.Name, unfinished.ID)
	op, steps, err := r.journal.Operation(ctx, unfinished.ID)
	if err != nil {
		return op, true, fmt.Errorf("read operation %s: %w", unfinished.ID, err)
	}
	r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "operation", Status: "RESUMED",
		Reason: fmt.Sprintf("resuming operation %s started %s", op.ID, op.StartedAt.Format(time.RFC3339))})
	if err := r.journal.UpdateOperation(ctx, op.ID, fleet.OpRunning, "", time.Time{}); err != nil {
		return op, true, err
	}
	op, err = r.run(ctx, d, op, steps)
	return op, true, err
}

func (r *Runner) release(stackSet, opID string) {
	// The lock must be released even when ctx was cancelled (Ctrl-C).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.journal.Release(ctx, stackSet, opID); err != nil {
		r.log.Warn("release lock", "stackSet", stackSet, "operation", opID, "error", err)
	}
}

func (r *Runner) emit(e fleet.Event) {
	if e.Time.IsZero() {
		e.Time = r.now().UTC()
	}
	r.observe(e)
	// The journal copy must not be lost to a cancelled ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.journal.AppendEvents(ctx, e); err != nil {
		r.log.Warn("journal event", "operation", e.Operation, "error", err)
	}
}

// run executes the steps of op that are not final.
func (r *Runner) run(ctx context.Context, d Desired, op fleet.Operation, records []fleet.StepRecord) (fleet.Operation, error) {
	recorded, err := r.journal.Instances(ctx, fleet.StackSetOwner(op.StackSet))
	if err != nil {
		return op, fmt.Errorf("read instances: %w", err)
	}
	byTarget := make(map[fleet.Target]fleet.Instance, len(recorded))
	for _, in := range recorded {
		byTarget[in.Target] = in
	}
	status := make(map[fleet.Target]fleet.StepStatus, len(records))
	for _, rec := range records {
		status[rec.Target] = fleet.StepStatus(rec.Status)
	}
	steps := make([]rollout.Step, len(op.Plan.Actions))
	for i, a := range op.Plan.Actions {
		steps[i] = rollout.Step{Target: a.Target, Status: status[a.Target]}
	}
	r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "operation", Status: string(fleet.OpRunning),
		Reason: fmt.Sprintf("%d steps", len(steps))})

	deploy := func(ctx context.Context, i int) rollout.Outcome {
		a := op.Plan.Actions[i]
		return r.step(ctx, d, op, a, byTarget[a.Target])
	}
	observe := func(e rollout.Event) {
		if e.Index < 0 {
			r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "region", Status: "STOPPED",
				Reason: "failures exceeded the failure tolerance", Target: &fleet.Target{Region: e.Region}})
			return
		}
		t := e.Target
		r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "step", Target: &t, Status: string(e.Status), Reason: e.Reason})
		if e.Status == fleet.StepCancelled {
			r.cancelled(op, t, byTarget)
		}
	}
	res := rollout.Run(ctx, steps, op.Plan.Preferences, deploy, observe)

	final, reason := fleet.OpSucceeded, ""
	switch {
	case res.Interrupted:
		final, reason = fleet.OpStopped, "interrupted; run apply again to resume"
	case res.Failed():
		final, reason = fleet.OpFailed, fmt.Sprintf("failures exceeded the failure tolerance in %v", res.StoppedRegions)
	}
	op.Status, op.Reason, op.EndedAt = final, reason, r.now().UTC()
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
	if err := r.journal.UpdateOperation(uctx, op.ID, final, op.Reason, op.EndedAt); err != nil {
		return op, fmt.Errorf("record operation result: %w", err)
	}
	r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "operation", Status: string(final), Reason: op.Reason})
	return op, nil
}

// step deploys or deletes one instance and records the result with its step.
func (r *Runner) step(ctx context.Context, d Desired, op fleet.Operation, a fleet.Action, prev fleet.Instance) rollout.Outcome {
	rec := fleet.StepRecord{Target: a.Target, Status: (fleet.StepRunning), UpdatedAt: r.now().UTC()}
	if err := r.journal.Record(ctx, op.ID, fleet.StackSetOwner(op.StackSet), rec, nil, nil); err != nil {
		return rollout.Outcome{Failed: true, Reason: "journal: " + err.Error()}
	}
	progress := func(ev ResourceEvent) {
		t := a.Target
		r.emit(fleet.Event{Operation: op.ID, StackSet: op.StackSet, Kind: "resource", Target: &t, Status: ev.Status,
			Reason: ev.Reason, LogicalID: ev.LogicalID, ResourceType: ev.Type})
	}
	var (
		inst *fleet.Instance
		del  *fleet.Target
		err  error
	)
	switch a.Kind {
	case fleet.Create, fleet.Update:
		var res DeployResult
		res, err = r.deployer.Deploy(ctx, a.Target, DeployRequest{
			StackName: d.Name, TemplateBody: d.TemplateBody, Parameters: a.Parameters, Tags: d.Tags,
			Capabilities: d.Capabilities, Token: "stackfleet-" + op.ID,
		}, progress)
		version := fleet.Version{TemplateHash: a.TemplateHash, ParamsHash: a.ParamsHash, Parameters: a.Parameters}
		next := prev
		next.Owner, next.Target, next.LastOperation, next.UpdatedAt = fleet.StackSetOwner(d.Name), a.Target, op.ID, r.now().UTC()
		if err == nil {
			next.StackID, next.Outputs = res.StackID, maps.Clone(res.Outputs)
			next.Status, next.Detail, next.Reason = fleet.Current, (fleet.StepSucceeded), ""
			next.Deployed, next.LastGood = version, &version
		} else if ctx.Err() == nil {
			// The stack rolled back to what it ran before (or, for a create, to nothing).
			next.Status, next.Detail, next.Reason = fleet.Outdated, (fleet.StepFailed), err.Error()
		}
		if err == nil || ctx.Err() == nil {
			inst = &next
		}
	case fleet.Delete:
		err = r.deployer.Delete(ctx, a.Target, d.Name, progress)
		if err == nil {
			t := a.Target
			del = &t
		} else if ctx.Err() == nil {
			next := prev
			next.Status, next.Detail, next.Reason, next.LastOperation, next.UpdatedAt = fleet.Inoperable, (fleet.StepFailed), err.Error(), op.ID, r.now().UTC()
			inst = &next
		}
	case fleet.Unmanage:
		t := a.Target
		del = &t
	default:
		err = fmt.Errorf("unknown action %q", a.Kind)
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted: leave the step RUNNING; resume re-checks it through the deployer.
		return rollout.Outcome{Failed: true, Reason: "interrupted"}
	}
	rec.Status, rec.UpdatedAt = (fleet.StepSucceeded), r.now().UTC()
	if err != nil {
		rec.Status, rec.Reason = (fleet.StepFailed), err.Error()
	}
	if jerr := r.journal.Record(context.WithoutCancel(ctx), op.ID, fleet.StackSetOwner(op.StackSet), rec, inst, del); jerr != nil {
		return rollout.Outcome{Failed: true, Reason: "journal: " + jerr.Error()}
	}
	if err != nil {
		return rollout.Outcome{Failed: true, Reason: err.Error()}
	}
	return rollout.Outcome{}
}

// cancelled records a step the operation will not reach: its step CANCELLED and, for an
// instance that exists, OUTDATED (as StackSets marks instances an operation did not reach).
func (r *Runner) cancelled(op fleet.Operation, t fleet.Target, byTarget map[fleet.Target]fleet.Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := fleet.StepRecord{Target: t, Status: (fleet.StepCancelled), Reason: "operation stopped before reaching it", UpdatedAt: r.now().UTC()}
	var inst *fleet.Instance
	if prev, ok := byTarget[t]; ok {
		prev.Status, prev.Detail, prev.LastOperation, prev.UpdatedAt = fleet.Outdated, (fleet.StepCancelled), op.ID, r.now().UTC()
		inst = &prev
	}
	if err := r.journal.Record(ctx, op.ID, fleet.StackSetOwner(op.StackSet), rec, inst, nil); err != nil {
		r.log.Warn("record cancelled step", "target", t, "error", err)
	}
}
