package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Clock tells the time and waits. Timers are virtual under testing/synctest with SystemClock.
type Clock interface {
	apply.Clock
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{ apply.SystemClock }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Journal is the durable state a release needs. Instances change only through the executor
// (apply.InstanceStore).
type Journal interface {
	apply.InstanceStore
	UpdateRelease(ctx context.Context, r fleet.Release) error
	PutTemplate(ctx context.Context, hash string, body []byte) error
	Template(ctx context.Context, hash string) ([]byte, error)
	Approval(ctx context.Context, releaseID, stage string) (*fleet.Approval, error)
	AddGateRecords(ctx context.Context, recs ...fleet.GateRecord) error
	// AcquireStage takes the stage for the release (one release per stage at a time); it returns
	// an error wrapping ErrStageBusy while another live release holds it.
	AcquireStage(ctx context.Context, pipeline, stage, releaseID string) error
	ReleaseStage(ctx context.Context, pipeline, stage, releaseID string) error
	// Superseded reports whether a newer release should replace this one before it starts a stage.
	Superseded(ctx context.Context, r fleet.Release) (bool, error)
}

// ErrStageBusy is wrapped by Journal.AcquireStage while another release holds the stage.
var ErrStageBusy = errors.New("stage busy")

// Engine moves releases through their pipeline. Its waves and rollbacks run through the
// executor (package apply) with a wave's policy.
type Engine struct {
	// Deployer returns the deployer of a stage (its stacks deploy through the stage's role).
	Deployer func(fleet.Stage) apply.Deployer
	Gates    Gates
	Journal  Journal
	Events   apply.EventSink
	Clock    Clock // default SystemClock
	Log      *slog.Logger
	// Poll is how often alarms are read during deploys and bakes, and approvals and busy stages
	// re-checked (default 10 s).
	Poll time.Duration
	// Inputs, if set, returns the resolver of the references to stack-set outputs in a stack's
	// parameters (values with "{{"), for the targets of one wave; nil leaves them as they are.
	Inputs func(ctx context.Context, s fleet.PipelineStack) (func(t fleet.Target, params map[string]string) (map[string]string, error), error)
}

// waveError marks a failed wave; its message is the reason.
type waveError struct{ reason string }

func (e *waveError) Error() string { return e.reason }

func (e *Engine) poll() time.Duration {
	if e.Poll <= 0 {
		return 10 * time.Second
	}
	return e.Poll
}

func (e *Engine) clock() Clock {
	if e.Clock == nil {
		return SystemClock{}
	}
	return e.Clock
}

func (e *Engine) now() time.Time { return e.clock().Now().UTC() }

func (e *Engine) events() apply.EventSink {
	if e.Events == nil {
		return apply.Discard{}
	}
	return e.Events
}

func (e *Engine) emit(r *fleet.Release, kind fleet.EventKind, status, reason string, t *fleet.Target) {
	e.events().Publish(fleet.ReleaseEvent{Release: r.ID, Pipeline: r.Pipeline,
		EventDetail: fleet.EventDetail{Time: e.now(), Kind: kind, Status: status, Reason: reason, Target: t}})
}

// executor runs batches through the stage's deployer.
func (e *Engine) executor(st fleet.Stage) *apply.Executor {
	return &apply.Executor{Deployer: e.Deployer(st), Store: e.Journal, Events: e.events(), Clock: e.clock()}
}

// move records a new position; a phase change restarts its clock, a resumed phase keeps it.
func (e *Engine) move(ctx context.Context, r *fleet.Release, stage, wave int, phase fleet.Phase) error {
	if r.Position.Stage != stage || r.Position.Wave != wave || r.Position.Phase != phase || r.Position.Since.IsZero() {
		r.Position = fleet.Position{Stage: stage, Wave: wave, Phase: phase, Since: e.now()}
	}
	return e.Journal.UpdateRelease(context.WithoutCancel(ctx), *r)
}

func (e *Engine) finish(ctx context.Context, r *fleet.Release, status fleet.ReleaseStatus, reason string) error {
	r.Status, r.Reason, r.EndedAt = status, reason, e.now()
	if err := e.Journal.UpdateRelease(context.WithoutCancel(ctx), *r); err != nil {
		return err
	}
	e.emit(r, fleet.EventRelease, string(status), reason, nil)
	return nil
}

// Run moves r through spec from its recorded position until it succeeds, fails (after rolling
// back), is rejected or superseded, or ctx ends (the position stays recorded for Resume: call Run
// again with the release as read from the journal).
func (e *Engine) Run(ctx context.Context, spec fleet.Pipeline, r fleet.Release) (fleet.Release, error) {
	if r.Status.Done() {
		return r, nil
	}
	for _, s := range spec.Stacks {
		if err := e.Journal.PutTemplate(ctx, fleet.Hash(string(s.TemplateBody)), s.TemplateBody); err != nil {
			return r, fmt.Errorf("record template: %w", err)
		}
	}
	if r.Status == fleet.ReleaseQueued {
		r.Status = fleet.ReleaseRunning
		e.emit(&r, fleet.EventRelease, string(fleet.ReleaseRunning), fmt.Sprintf("version %s", r.Version), nil)
	} else {
		where := "the start"
		if r.Position.Stage < len(spec.Stages) {
			st := spec.Stages[r.Position.Stage]
			where = fmt.Sprintf("stage %s %s", st.Name, waveName(st, r.Position.Wave))
		}
		e.emit(&r, fleet.EventRelease, "RESUMED", fmt.Sprintf("at %s, %s since %s", where, r.Position.Phase, r.Position.Since.Format(time.RFC3339)), nil)
	}
	held := ""
	defer func() {
		if held != "" {
			_ = e.Journal.ReleaseStage(context.WithoutCancel(ctx), spec.Name, held, r.ID)
		}
	}()
	take := func(stage string) error {
		if held == stage {
			return nil
		}
		if err := e.acquire(ctx, spec, &r, stage); err != nil {
			return err
		}
		if held != "" {
			_ = e.Journal.ReleaseStage(context.WithoutCancel(ctx), spec.Name, held, r.ID)
		}
		held = stage
		return nil
	}
	var soakFrom time.Time // when the previous stage finished
	for si := r.Position.Stage; si < len(spec.Stages); si++ {
		st := spec.Stages[si]
		atPos := si == r.Position.Stage
		switch {
		case atPos && r.Position.Phase == fleet.PhaseStageDone:
			soakFrom = r.Position.Since
			continue
		case atPos && r.Position.Phase == fleet.PhaseRollback:
			// Killed while rolling back: finish the rollback (it is idempotent).
			if err := take(st.Name); err != nil {
				return r, err
			}
			if err := e.rollback(ctx, spec, &r, si, r.Position.Wave); err != nil {
				return r, err
			}
			return r, e.finish(ctx, &r, fleet.ReleaseFailed, r.Reason+"; rolled back")
		}
		inStage := atPos && r.Position.Phase != "" && r.Position.Phase != fleet.PhaseSoak && r.Position.Phase != fleet.PhaseApproval
		if !inStage && si > 0 && spec.Stages[si-1].Soak > 0 {
			// The soak is stored as its start: a restart waits only for what is left.
			if !(atPos && r.Position.Phase == fleet.PhaseSoak) {
				if soakFrom.IsZero() {
					soakFrom = e.now()
				}
				r.Position = fleet.Position{Stage: si, Phase: fleet.PhaseSoak, Since: soakFrom}
				if err := e.Journal.UpdateRelease(context.WithoutCancel(ctx), r); err != nil {
					return r, err
				}
			}
			prev := spec.Stages[si-1]
			end := r.Position.Since.Add(prev.Soak)
			e.emit(&r, fleet.EventStage, "SOAKING", fmt.Sprintf("%s soaks until %s before %s", prev.Name, end.Format(time.RFC3339), st.Name), nil)
			if err := e.sleepUntil(ctx, end); err != nil {
				return r, err
			}
		}
		// Take the stage before leaving the previous one: a release is always somewhere.
		if err := take(st.Name); err != nil {
			if errors.Is(err, errSuperseded) {
				return r, e.finish(ctx, &r, fleet.ReleaseSuperseded, "a newer release replaced it")
			}
			return r, err
		}
		if st.Approval && !inStage {
			if err := e.move(ctx, &r, si, 0, fleet.PhaseApproval); err != nil {
				return r, err
			}
			e.emit(&r, fleet.EventStage, "WAITING_APPROVAL", fmt.Sprintf("run 'stackfleet approve %s %s' (or reject)", spec.Name, st.Name), nil)
			d, err := e.waitApproval(ctx, r, st.Name)
			if err != nil {
				return r, err
			}
			if !d.Approved {
				return r, e.finish(ctx, &r, fleet.ReleaseRejected, fmt.Sprintf("stage %s rejected by %s: %s", st.Name, d.By, d.Comment))
			}
			e.emit(&r, fleet.EventStage, "APPROVED", fmt.Sprintf("%s by %s", st.Name, d.By), nil)
		}
		first := 0
		if inStage {
			first = r.Position.Wave
		} else {
			e.emit(&r, fleet.EventStage, "STARTED", st.Name, nil)
		}
		for wi := first; wi <= len(st.Waves); wi++ {
			if err := e.wave(ctx, spec, &r, si, wi); err != nil {
				var we *waveError
				if !errors.As(err, &we) {
					return r, err
				}
				r.Reason = fmt.Sprintf("stage %s %s: %s", st.Name, waveName(st, wi), we.reason)
				e.emit(&r, fleet.EventWave, "FAILED", r.Reason, nil)
				if rerr := e.rollback(ctx, spec, &r, si, wi); rerr != nil {
					return r, fmt.Errorf("%s; rollback: %w", r.Reason, rerr)
				}
				return r, e.finish(ctx, &r, fleet.ReleaseFailed, r.Reason+"; rolled back")
			}
		}
		if err := e.move(ctx, &r, si, len(st.Waves), fleet.PhaseStageDone); err != nil {
			return r, err
		}
		soakFrom = r.Position.Since
		e.emit(&r, fleet.EventStage, "SUCCEEDED", st.Name, nil)
	}
	return r, e.finish(ctx, &r, fleet.ReleaseSucceeded, "")
}

var errSuperseded = errors.New("superseded")

// acquire waits for the stage to be free (another release deploying to it), unless a newer
// release supersedes this one meanwhile.
func (e *Engine) acquire(ctx context.Context, spec fleet.Pipeline, r *fleet.Release, stage string) error {
	announced := false
	for {
		err := e.Journal.AcquireStage(ctx, spec.Name, stage, r.ID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrStageBusy) {
			return err
		}
		if sup, serr := e.Journal.Superseded(ctx, *r); serr == nil && sup {
			return errSuperseded
		}
		if !announced {
			e.emit(r, fleet.EventStage, "QUEUED", err.Error(), nil)
			announced = true
		}
		if err := e.sleepFor(ctx, e.poll()); err != nil {
			return err
		}
	}
}

func (e *Engine) waitApproval(ctx context.Context, r fleet.Release, stage string) (*fleet.Approval, error) {
	for {
		d, err := e.Journal.Approval(ctx, r.ID, stage)
		if err != nil {
			return nil, err
		}
		if d != nil {
			return d, nil
		}
		if err := e.sleepFor(ctx, e.poll()); err != nil {
			return nil, err
		}
	}
}

func waveName(st fleet.Stage, wi int) string {
	if wi >= len(st.Waves) {
		return "stage checks"
	}
	return fmt.Sprintf("wave %d/%d", wi+1, len(st.Waves))
}

// wave runs wave wi of stage si (wi == len(waves): the stage-level checks over every target).
func (e *Engine) wave(ctx context.Context, spec fleet.Pipeline, r *fleet.Release, si, wi int) error {
	st := spec.Stages[si]
	checks, targets := st.WaveChecks, []fleet.Target(nil)
	if wi < len(st.Waves) {
		targets = st.Waves[wi]
	} else {
		checks = st.StageChecks
		for _, w := range st.Waves {
			targets = append(targets, w...)
		}
		if checks.Empty() {
			return nil
		}
	}
	history := map[fleet.Target][]fleet.Measurement{} // alarm readings of this wave
	resumed := r.Position.Stage == si && r.Position.Wave == wi
	phase := r.Position.Phase
	name := st.Name + " " + waveName(st, wi)

	if wi < len(st.Waves) && (!resumed || phase == fleet.PhaseWindow || phase == fleet.PhaseDeploy || phase == fleet.PhaseApproval || phase == fleet.PhaseSoak || phase == "") {
		if len(st.Windows) > 0 {
			if err := e.move(ctx, r, si, wi, fleet.PhaseWindow); err != nil {
				return err
			}
			if err := e.waitWindow(ctx, r, st, targets); err != nil {
				return err
			}
		}
		if err := e.move(ctx, r, si, wi, fleet.PhaseDeploy); err != nil {
			return err
		}
		e.emit(r, fleet.EventWave, "DEPLOYING", fmt.Sprintf("%s: %d targets", name, len(targets)), nil)
		if err := e.watching(ctx, r, st, checks.Alarms, spec, targets, history, func(ctx context.Context) error {
			return e.deployWave(ctx, spec, r, st, targets)
		}); err != nil {
			return err
		}
		phase = fleet.PhaseVerify
	}
	if phase != fleet.PhaseBake {
		if err := e.move(ctx, r, si, wi, fleet.PhaseVerify); err != nil {
			return err
		}
		if err := e.verify(ctx, spec, r, si, wi, checks, targets); err != nil {
			return err
		}
	}
	if checks.Bake > 0 || !checks.Alarms.Empty() {
		if err := e.move(ctx, r, si, wi, fleet.PhaseBake); err != nil {
			return err
		}
		end := r.Position.Since.Add(checks.Bake)
		e.emit(r, fleet.EventWave, "BAKING", fmt.Sprintf("%s: until %s (%s left)", name, end.Format(time.RFC3339), max(end.Sub(e.now()), 0).Round(time.Second)), nil)
		if err := e.watching(ctx, r, st, checks.Alarms, spec, targets, history, func(ctx context.Context) error {
			return e.sleepUntil(ctx, end)
		}); err != nil {
			return err
		}
	}
	e.emit(r, fleet.EventWave, "SUCCEEDED", name, nil)
	return nil
}

// waitWindow waits until every region of the wave is inside a deployment window.
func (e *Engine) waitWindow(ctx context.Context, r *fleet.Release, st fleet.Stage, targets []fleet.Target) error {
	regions := map[string]bool{}
	for _, t := range targets {
		regions[t.Region] = true
	}
	announced := false
	for {
		now := e.now()
		latest := now
		for region := range regions {
			next, ok := NextOpen(st.Windows, region, now)
			if !ok {
				return &waveError{reason: fmt.Sprintf("no deployment window ever opens for %s", region)}
			}
			latest = maxTime(latest, next)
		}
		open := true
		for region := range regions {
			open = open && Open(st.Windows, region, latest)
		}
		if !latest.After(now) && open {
			return nil
		}
		if !announced {
			e.emit(r, fleet.EventWave, "WAITING_WINDOW", fmt.Sprintf("next window opens %s", latest.Format(time.RFC3339)), nil)
			announced = true
		}
		if err := e.sleepUntil(ctx, latest); err != nil {
			return err
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// deployWave deploys every stack of the pipeline to the wave's targets, stacks in order, each
// as one batch of the executor with the wave's policy.
func (e *Engine) deployWave(ctx context.Context, p fleet.Pipeline, r *fleet.Release, st fleet.Stage, targets []fleet.Target) error {
	x := e.executor(st)
	for _, s := range p.Stacks {
		params := maps.Clone(s.Parameters)
		if params == nil {
			params = map[string]string{}
		}
		maps.Copy(params, st.Parameters[s.Name])
		version := fleet.Version{TemplateHash: fleet.Hash(string(s.TemplateBody)), ParamsHash: fleet.HashParameters(params), Parameters: params}
		b := apply.Batch{
			Owner: fleet.PipelineOwner(p.Name, s.Name), Operation: r.ID,
			Event:  fleet.ReleaseEvent{Release: r.ID, Pipeline: r.Pipeline, Stack: s.Name},
			Policy: apply.WavePolicy(st.MaxConcurrent, len(targets)), TemplateBody: s.TemplateBody, Assets: s.Assets, Tags: s.Tags,
			Capabilities: s.Capabilities, Token: fmt.Sprintf("sf-%s-s%d", r.ID, r.Position.Stage),
		}
		var resolve func(fleet.Target, map[string]string) (map[string]string, error)
		if e.Inputs != nil && slices.ContainsFunc(slices.Collect(maps.Values(params)), func(p string) bool { return strings.Contains(p, "{{") }) {
			var err error
			if resolve, err = e.Inputs(ctx, s); err != nil {
				return err
			}
		}
		for _, t := range targets {
			v := version
			if resolve != nil {
				resolved, err := resolve(t, maps.Clone(params))
				if err != nil {
					return &waveError{fmt.Sprintf("stack %s in %s: %v", s.Name, t, err)}
				}
				v = fleet.Version{TemplateHash: version.TemplateHash, ParamsHash: fleet.HashParameters(resolved), Parameters: resolved}
			}
			b.Items = append(b.Items, apply.Item{Kind: fleet.Update, Target: t, Version: v})
		}
		res, err := x.Run(ctx, b)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i := slices.Index(res.Steps, fleet.StepFailed); i >= 0 {
			return &waveError{reason: fmt.Sprintf("deploy of %s to %s failed: %s", s.Name, targets[i], res.Reasons[i])}
		}
	}
	return nil
}

// rollback returns the failing wave (and, if configured, the stage's earlier waves, newest
// first) to each instance's last known good version.
func (e *Engine) rollback(ctx context.Context, p fleet.Pipeline, r *fleet.Release, si, wi int) error {
	st := p.Stages[si]
	if err := e.move(ctx, r, si, wi, fleet.PhaseRollback); err != nil {
		return err
	}
	waves := []int{min(wi, len(st.Waves)-1)}
	if wi >= len(st.Waves) || p.RollbackEarlierWaves {
		waves = nil
		for w := min(wi, len(st.Waves)-1); w >= 0; w-- {
			waves = append(waves, w)
		}
	}
	for _, w := range waves {
		e.emit(r, fleet.EventRollback, "ROLLING_BACK", fmt.Sprintf("%s wave %d/%d", st.Name, w+1, len(st.Waves)), nil)
		if _, err := e.RollbackTargets(ctx, p, st, r.ID, st.Waves[w]); err != nil {
			return err
		}
		e.emit(r, fleet.EventRollback, "ROLLED_BACK", fmt.Sprintf("%s wave %d/%d", st.Name, w+1, len(st.Waves)), nil)
	}
	return nil
}

// ErrNothingToRollBack is wrapped by Rollback when no instance the release deployed is left.
var ErrNothingToRollBack = errors.New("nothing to roll back")

// Rollback returns every instance release r deployed to its last known good version, stages
// newest first, holding every stage of the pipeline meanwhile (an error wrapping ErrStageBusy
// while a release runs), and marks r ROLLED_BACK with reason. It returns how many instances it
// rolled back.
func (e *Engine) Rollback(ctx context.Context, p fleet.Pipeline, r fleet.Release, reason string) (int, error) {
	holder := RollbackID(r.ID)
	for _, st := range p.Stages {
		if err := e.Journal.AcquireStage(ctx, p.Name, st.Name, holder); err != nil {
			return 0, err
		}
		defer e.Journal.ReleaseStage(context.WithoutCancel(ctx), p.Name, st.Name, holder)
	}
	total := 0
	for _, st := range slices.Backward(p.Stages) {
		var targets []fleet.Target
		for _, wv := range slices.Backward(st.Waves) {
			targets = append(targets, wv...)
		}
		e.emit(&r, fleet.EventRollback, "ROLLING_BACK", fmt.Sprintf("stage %s (%d targets)", st.Name, len(targets)), nil)
		n, err := e.RollbackTargets(ctx, p, st, r.ID, targets)
		total += n
		if err != nil {
			return total, err
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("release %s of %s (%s) has no instance left that it deployed: %w", r.ID, p.Name, r.Status, ErrNothingToRollBack)
	}
	r.Status, r.Reason, r.EndedAt = fleet.ReleaseRolledBack, reason, e.now()
	if err := e.Journal.UpdateRelease(ctx, r); err != nil {
		return total, err
	}
	e.emit(&r, fleet.EventRollback, string(fleet.ReleaseRolledBack),
		fmt.Sprintf("%d instances back on their last known good version or deleted", total), nil)
	return total, nil
}

// RollbackTargets returns the instances release touched in targets to their last known good
// version (the version they ran before release first deployed them), stacks in reverse order, as
// batches of the executor. An instance with no earlier version is deleted. Instances release did
// not touch, or that were rolled back already, are left alone; an instance whose rollback failed
// is tried again. It returns how many instances it rolled back.
func (e *Engine) RollbackTargets(ctx context.Context, p fleet.Pipeline, st fleet.Stage, releaseID string, targets []fleet.Target) (int, error) {
	x := e.executor(st)
	rolled := 0
	for _, s := range slices.Backward(p.Stacks) {
		owner := fleet.PipelineOwner(p.Name, s.Name)
		insts, err := e.Journal.Instances(ctx, owner)
		if err != nil {
			return rolled, err
		}
		byTarget := map[fleet.Target]fleet.Instance{}
		for _, in := range insts {
			byTarget[in.Target] = in
		}
		b := apply.Batch{
			Owner: owner, Operation: RollbackID(releaseID), Event: fleet.ReleaseEvent{Release: releaseID, Pipeline: p.Name, Stack: s.Name},
			Tags: s.Tags, Capabilities: s.Capabilities, Token: "sf-rb-" + releaseID,
			Done: fleet.StepRolledBack, Note: "rolled back by release " + releaseID,
		}
		bodies := map[string][]byte{}
		for _, t := range targets {
			inst, ok := byTarget[t]
			// The release's instances, and those whose rollback failed (it may be retried).
			retry := inst.LastOperation == RollbackID(releaseID) && inst.Detail == fleet.StepFailed
			if !ok || inst.LastOperation != releaseID && !retry {
				continue
			}
			if inst.LastGood == nil {
				b.Items = append(b.Items, apply.Item{Kind: fleet.Delete, Target: t})
				continue
			}
			good := *inst.LastGood
			body, ok := bodies[good.TemplateHash]
			if !ok {
				if body, err = e.Journal.Template(ctx, good.TemplateHash); err != nil {
					return rolled, fmt.Errorf("template %s of the last good version of %s: %w", good.TemplateHash, t, err)
				}
				bodies[good.TemplateHash] = body
			}
			b.Items = append(b.Items, apply.Item{Kind: fleet.Update, Target: t, Version: good, TemplateBody: body})
		}
		if len(b.Items) == 0 {
			continue
		}
		// A rollback tries every instance, whatever fails: no tolerance stops it.
		b.Policy = apply.WavePolicy(st.MaxConcurrent, len(b.Items))
		b.Policy.LastGood = apply.GoodOnSuccess
		all := len(b.Items)
		b.Policy.Preferences.FailureTolerance = fleet.Limit{Count: &all}
		res, err := x.Run(ctx, b)
		if err != nil {
			return rolled, err
		}
		var errs []string
		for i, status := range res.Steps {
			switch status {
			case fleet.StepSucceeded:
				rolled++
			case fleet.StepFailed:
				errs = append(errs, fmt.Sprintf("%s: %s", b.Items[i].Target, res.Reasons[i]))
			}
		}
		if ctx.Err() != nil {
			return rolled, ctx.Err()
		}
		if len(errs) > 0 {
			slices.Sort(errs)
			return rolled, fmt.Errorf("rollback of %s failed in %d target(s): %s", s.Name, len(errs), strings.Join(errs, "; "))
		}
	}
	return rolled, nil
}

// RollbackID is what instances rolled back from a release record as their last operation, and
// the holder of the stage locks a rollback takes.
func RollbackID(releaseID string) string { return "rollback-" + releaseID }

// sleepUntil waits until t or ctx ends.
func (e *Engine) sleepUntil(ctx context.Context, t time.Time) error {
	return e.sleepFor(ctx, t.Sub(e.now()))
}

func (e *Engine) sleepFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-e.clock().After(d):
		return nil
	}
}
