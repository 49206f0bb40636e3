package apply

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

// InstanceStore reads an owner's instances and records what happens to them.
type InstanceStore interface {
	Instances(ctx context.Context, owner fleet.Owner) ([]fleet.Instance, error)
	// Record writes a Change in one transaction.
	Record(ctx context.Context, c Change) error
}

// Change is what one moment of a deploy does to the state: the step of a journaled operation
// (Step non-nil), and the instance put (Put) or forgotten (Delete) — any of them, all at once.
type Change struct {
	Owner     fleet.Owner
	Operation string
	Step      *fleet.StepRecord
	Put       *fleet.Instance
	Delete    *fleet.Target
}

// EventSink receives the events of a batch as they happen. Publish must not block for long: it
// is called while steps are being scheduled.
type EventSink interface{ Publish(fleet.Event) }

// Discard is an EventSink that drops every event.
type Discard struct{}

// Publish drops e.
func (Discard) Publish(fleet.Event) {}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// LastGoodRule says which version an instance's LastGood keeps.
type LastGoodRule int

const (
	// GoodOnSuccess makes every successful deploy the last known good version (stack sets).
	GoodOnSuccess LastGoodRule = iota
	// GoodBeforeOperation keeps, from the first time the operation touches an instance until it
	// ends, the version the instance ran before (nil if it ran none, or was not CURRENT): what a
	// rollback of the operation goes back to (releases).
	GoodBeforeOperation
)

// Policy is how a batch runs: StackSets preferences for a stack-set operation; for a wave, all
// regions at once, soft concurrency and no tolerance.
type Policy struct {
	Preferences fleet.Preferences
	// MaxInFlight bounds the items deploying at once across regions (0: only the preferences).
	MaxInFlight int
	LastGood    LastGoodRule
	// Journaled batches record each item's step with the operation (Batch.Operation).
	Journaled bool
}

// WavePolicy is the policy of a release wave: every region at once, up to maxConcurrent
// targets in flight (0: the whole wave), stopping a region at its first failure.
func WavePolicy(maxConcurrent, targets int) Policy {
	all := max(targets, 1)
	if maxConcurrent <= 0 {
		maxConcurrent = all
	}
	zero := 0
	return Policy{
		Preferences: fleet.Preferences{MaxConcurrent: fleet.Limit{Count: &all}, FailureTolerance: fleet.Limit{Count: &zero},
			RegionConcurrency: fleet.Parallel, Mode: fleet.Soft},
		MaxInFlight: maxConcurrent, LastGood: GoodBeforeOperation,
	}
}

// Item is one instance change of a batch.
type Item struct {
	Kind   fleet.ActionKind // Create, Update, Delete or Unmanage
	Target fleet.Target
	// Version is what Create and Update deploy; TemplateBody, when set, is its template (else
	// the batch's).
	Version      fleet.Version
	TemplateBody []byte
	// Status is the item's step status before this run: a resumed operation does not redo
	// SUCCEEDED or FAILED items.
	Status fleet.StepStatus
	// RevertDrift deploys with a drift-aware change set (see DeployRequest).
	RevertDrift bool
}

// Batch is the changes to one owner's instances that run together under one policy.
type Batch struct {
	Owner fleet.Owner
	// Operation is the operation or release the changes belong to: what changed instances
	// record as their last operation, and the id of the events.
	Operation string
	// Event is the template of the batch's events: whose they are (an operation's or a
	// release's); their detail is filled in.
	Event        fleet.Event
	Policy       Policy
	TemplateBody []byte
	// Assets go with TemplateBody: published before an item of that template deploys.
	Assets       *fleet.Assets
	Tags         map[string]string
	Capabilities []string
	// Token is the client request token base: stable per operation, so a resumed deploy
	// recognises its own work.
	Token string
	// Done is the detail of an instance a deploy succeeded on (default SUCCEEDED) and Note its
	// reason.
	Done  fleet.StepStatus
	Note  string
	Items []Item
}

// Executor deploys batches: it runs the items with the rollout engine under the batch's policy,
// records every result with the instance it produced, keeps the last known good version as the
// policy says, and publishes events. Stack-set operations, release waves and rollbacks all run
// through it.
type Executor struct {
	Deployer Deployer
	Store    InstanceStore
	Events   EventSink
	Clock    Clock
}

// Run executes the batch and returns the rollout result (one status per item, in order).
// Per-item failures are in the result; the error is for a batch that could not start.
func (x *Executor) Run(ctx context.Context, b Batch) (rollout.Result, error) {
	prev, err := x.Prior(ctx, b.Owner)
	if err != nil {
		return rollout.Result{}, err
	}
	steps := make([]rollout.Step, len(b.Items))
	for i, it := range b.Items {
		steps[i] = rollout.Step{Target: it.Target, Status: it.Status}
	}
	var slots chan struct{}
	if n := b.Policy.MaxInFlight; n > 0 && n < len(b.Items) {
		slots = make(chan struct{}, n)
	}
	deploy := func(ctx context.Context, i int) rollout.Outcome {
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
				return rollout.Outcome{Failed: true, Reason: "interrupted"}
			}
		}
		it := b.Items[i]
		in, known := prev[it.Target]
		return x.item(ctx, b, it, in, known)
	}
	observe := func(e rollout.Event) {
		if e.Index < 0 {
			x.StopRegion(b, e.Region)
			return
		}
		x.stepEvent(b, e.Target, e.Status, e.Reason)
		if e.Status == fleet.StepCancelled {
			in, known := prev[e.Target]
			x.cancelled(b, e.Target, in, known)
		}
	}
	return rollout.Run(ctx, steps, b.Policy.Preferences, deploy, observe), nil
}

// Prior is what a batch of the owner starts from: its recorded instances by target.
func (x *Executor) Prior(ctx context.Context, owner fleet.Owner) (map[fleet.Target]fleet.Instance, error) {
	recorded, err := x.Store.Instances(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("read instances of %s: %w", owner, err)
	}
	prev := make(map[fleet.Target]fleet.Instance, len(recorded))
	for _, in := range recorded {
		prev[in.Target] = in
	}
	return prev, nil
}

// Step runs one item of b as Run runs each — its step RUNNING, the deploy, the result recorded,
// the events — for an executor that schedules the items itself (the Temporal one, one activity
// per item, with rollout.Region). prior is what Prior returned before the batch started.
// An interrupted step returns Failed with ctx ended; it stays RUNNING for a resume to re-check.
func (x *Executor) Step(ctx context.Context, b Batch, it Item, prior map[fleet.Target]fleet.Instance) rollout.Outcome {
	x.stepEvent(b, it.Target, fleet.StepRunning, "")
	in, known := prior[it.Target]
	out := x.item(ctx, b, it, in, known)
	switch {
	case out.Failed && ctx.Err() != nil:
	case out.Failed:
		x.stepEvent(b, it.Target, fleet.StepFailed, out.Reason)
	default:
		x.stepEvent(b, it.Target, fleet.StepSucceeded, out.Reason)
	}
	return out
}

// Cancel records and announces an item of b that will not run, for reason.
func (x *Executor) Cancel(b Batch, t fleet.Target, reason string, prior map[fleet.Target]fleet.Instance) {
	x.stepEvent(b, t, fleet.StepCancelled, reason)
	in, known := prior[t]
	x.cancelled(b, t, in, known)
}

// StopRegion announces that a region of b stopped on failures.
func (x *Executor) StopRegion(b Batch, region string) {
	x.publish(b, fleet.EventRegion, &fleet.Target{Region: region}, "STOPPED", "failures exceeded the failure tolerance")
}

// stepEvent publishes the step status of an item (a success as the batch's Done detail).
func (x *Executor) stepEvent(b Batch, t fleet.Target, status fleet.StepStatus, reason string) {
	if status == fleet.StepSucceeded && b.Done != "" {
		status = b.Done
	}
	x.publish(b, fleet.EventStep, &t, string(status), reason)
}

// ownerTags are the stack's tags: the configured ones and the owner's (fleet.OwnerTag).
func ownerTags(tags map[string]string, o fleet.Owner) map[string]string {
	out := make(map[string]string, len(tags)+1)
	maps.Copy(out, tags)
	out[fleet.OwnerTag] = o.Tag()
	return out
}

// RegionChecker is implemented by deployers that can tell an error saying the target's region
// cannot be used at all (not enabled in the account, or no such region).
type RegionChecker interface {
	RegionUnavailable(err error) bool
}

func unreachableRegion(d Deployer, err error) bool {
	rc, ok := d.(RegionChecker)
	return ok && rc.RegionUnavailable(err)
}

func (x *Executor) now() time.Time {
	if x.Clock == nil {
		return time.Now().UTC()
	}
	return x.Clock.Now().UTC()
}

func (x *Executor) publish(b Batch, kind fleet.EventKind, t *fleet.Target, status, reason string) {
	x.Events.Publish(b.Event.WithDetail(fleet.EventDetail{Time: x.now(), Kind: kind, Target: t, Status: status, Reason: reason}))
}

// item deploys or deletes one instance and records the result.
func (x *Executor) item(ctx context.Context, b Batch, it Item, prev fleet.Instance, known bool) rollout.Outcome {
	start := Change{Owner: b.Owner, Operation: b.Operation}
	if b.Policy.Journaled {
		start.Step = &fleet.StepRecord{Target: it.Target, Status: fleet.StepRunning, UpdatedAt: x.now()}
	}
	// The first touch pins what to go back to, before anything changes.
	if b.Policy.LastGood == GoodBeforeOperation && (it.Kind == fleet.Create || it.Kind == fleet.Update) &&
		(!known || prev.LastOperation != b.Operation) {
		pinned := prev
		pinned.Owner, pinned.Target, pinned.LastOperation, pinned.Detail, pinned.LastGood = b.Owner, it.Target, b.Operation, fleet.StepRunning, nil
		if known && prev.Status == fleet.Current && prev.Deployed.TemplateHash != "" {
			good := prev.Deployed
			pinned.LastGood = &good
		}
		start.Put = &pinned
		prev, known = pinned, true
	}
	if start.Step != nil || start.Put != nil {
		if err := x.Store.Record(ctx, start); err != nil {
			return rollout.Outcome{Failed: true, Reason: "journal: " + err.Error()}
		}
	}
	progress := func(ev ResourceEvent) {
		t := it.Target
		x.Events.Publish(b.Event.WithDetail(fleet.EventDetail{Time: x.now(), Kind: fleet.EventResource, Target: &t,
			Status: ev.Status, Reason: ev.Reason, LogicalID: ev.LogicalID, ResourceType: ev.Type}))
	}
	end := Change{Owner: b.Owner, Operation: b.Operation}
	var err error
	switch it.Kind {
	case fleet.Create, fleet.Update:
		// An item with a template of its own (a rollback to an earlier version) finds the
		// assets of that version where it was deployed from: they are content-addressed.
		body, assets := it.TemplateBody, (*fleet.Assets)(nil)
		if body == nil {
			body, assets = b.TemplateBody, b.Assets
		}
		var res DeployResult
		res, err = x.Deployer.Deploy(ctx, it.Target, DeployRequest{
			StackName: b.Owner.StackName(), TemplateBody: body, Parameters: it.Version.Parameters, Tags: ownerTags(b.Tags, b.Owner),
			Capabilities: b.Capabilities, Assets: assets, Token: b.Token, RevertDrift: it.RevertDrift,
			Absent: it.Kind == fleet.Create && it.Status == fleet.StepPending,
		}, progress)
		next := prev
		next.Owner, next.Target, next.LastOperation, next.UpdatedAt = b.Owner, it.Target, b.Operation, x.now()
		switch {
		case err == nil:
			next.StackID, next.Outputs, next.StackChanged = res.StackID, maps.Clone(res.Outputs), res.Changed
			next.Status, next.Detail, next.Reason, next.Deployed = fleet.Current, fleet.StepSucceeded, b.Note, it.Version
			if b.Done != "" {
				next.Detail = b.Done
			}
			if b.Policy.LastGood == GoodOnSuccess {
				v := it.Version
				next.LastGood = &v
			}
			end.Put = &next
		case ctx.Err() == nil:
			// The stack rolled back to what it ran before (or, for a create, to nothing).
			next.Status, next.Detail, next.Reason = fleet.Outdated, fleet.StepFailed, err.Error()
			end.Put = &next
		}
	case fleet.Delete:
		err = x.Deployer.Delete(ctx, it.Target, b.Owner.StackName(), progress)
		if err != nil && known && prev.StackID == "" && unreachableRegion(x.Deployer, err) {
			// No stack was ever created, and none can be where the region cannot be used: the
			// record is all there is to remove.
			err = nil
		}
		switch {
		case err == nil:
			t := it.Target
			end.Delete = &t
		case ctx.Err() == nil:
			next := prev
			next.Owner, next.Target = b.Owner, it.Target
			next.Status, next.Detail, next.Reason, next.LastOperation, next.UpdatedAt = fleet.Inoperable, fleet.StepFailed, err.Error(), b.Operation, x.now()
			end.Put = &next
		}
	case fleet.Unmanage:
		t := it.Target
		end.Delete = &t
	default:
		err = fmt.Errorf("unknown action %q", it.Kind)
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted: leave the step RUNNING; resume re-checks it through the deployer.
		return rollout.Outcome{Failed: true, Reason: "interrupted"}
	}
	if b.Policy.Journaled {
		end.Step = &fleet.StepRecord{Target: it.Target, Status: fleet.StepSucceeded, UpdatedAt: x.now()}
		if err != nil {
			end.Step.Status, end.Step.Reason = fleet.StepFailed, err.Error()
		}
	}
	if end.Step != nil || end.Put != nil || end.Delete != nil {
		if jerr := x.Store.Record(context.WithoutCancel(ctx), end); jerr != nil {
			return rollout.Outcome{Failed: true, Reason: "journal: " + jerr.Error()}
		}
	}
	if err != nil {
		return rollout.Outcome{Failed: true, Reason: err.Error()}
	}
	return rollout.Outcome{Reason: b.Note}
}

// cancelled records an item a journaled batch will not reach: its step CANCELLED and, for an
// instance that exists, OUTDATED (as StackSets marks instances an operation did not reach). The
// instance keeps its last operation: nothing was deployed to it. A wave's unreached instances
// are left as they are: they still run what they ran.
func (x *Executor) cancelled(b Batch, t fleet.Target, prev fleet.Instance, known bool) {
	if !b.Policy.Journaled {
		return
	}
	c := Change{Owner: b.Owner, Operation: b.Operation,
		Step: &fleet.StepRecord{Target: t, Status: fleet.StepCancelled, Reason: "operation stopped before reaching it", UpdatedAt: x.now()}}
	if known {
		prev.Status, prev.Detail, prev.UpdatedAt = fleet.Outdated, fleet.StepCancelled, x.now()
		c.Put = &prev
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := x.Store.Record(ctx, c); err != nil {
		x.publish(b, fleet.EventJournal, &t, "WARNING", "record cancelled step: "+err.Error())
	}
}
