// Package rollout executes the instance steps of one stack-set operation with StackSets'
// operation preferences: regions in order (sequential) or at once (parallel), accounts of a region
// at the concurrency the preferences allow, a region stopped when its failures exceed the
// tolerance, and regions not reached cancelled.
//
// The engine never prints and never touches AWS: it calls a Deploy function per step and reports
// through an Observer. Per-step failures are data, not errors.
package rollout

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Step is one instance operation: a target and its status before this run. fleet.StepSucceeded and
// fleet.StepFailed steps (from a resumed operation) are not run again but count towards their region;
// anything else runs. The Deploy function is given the step's index in the input, so callers
// keep whatever else a step needs in their own slice.
type Step struct {
	Target fleet.Target
	Status fleet.StepStatus
}

// Outcome is what deploying one step produced.
type Outcome struct {
	Failed bool
	Reason string
}

// DeployFunc deploys step i of the input. It must honour ctx and be idempotent for a step (a
// resumed operation may call it again for a step that was running when the process died).
type DeployFunc func(ctx context.Context, i int) Outcome

// Event reports a change of one step or region. Exactly one of Step or Region is meaningful.
type Event struct {
	Index   int // index of the step in the input, or -1 for region events
	Target  fleet.Target
	Status  fleet.StepStatus // new status of the step
	Reason  string
	Region  string
	Stopped bool // region event: the region stopped because failures exceeded the tolerance
}

// Observer receives events; it is called from several goroutines, one event at a time.
type Observer func(Event)

// Result is the final status of every step (same order as the input) and of each region.
type Result struct {
	Steps   []fleet.StepStatus
	Reasons []string
	// StoppedRegions exceeded their tolerance.
	StoppedRegions []string
	// Interrupted is set when ctx ended before every step was final; unfinished steps stay pending.
	Interrupted bool
}

// Failed reports whether the operation failed (a region exceeded its tolerance).
func (r Result) Failed() bool { return len(r.StoppedRegions) > 0 }

// Run executes steps with the preferences and returns when every step is final or ctx ends.
func Run(ctx context.Context, steps []Step, prefs fleet.Preferences, deploy DeployFunc, observe Observer) Result {
	res := Result{Steps: make([]fleet.StepStatus, len(steps)), Reasons: make([]string, len(steps))}
	var mu sync.Mutex // guards res and serialises observe
	emit := func(e Event) {
		if e.Index >= 0 {
			res.Steps[e.Index] = e.Status
			res.Reasons[e.Index] = e.Reason
		}
		if observe != nil {
			observe(e)
		}
	}
	byRegion := map[string][]int{}
	for i, s := range steps {
		byRegion[s.Target.Region] = append(byRegion[s.Target.Region], i)
		res.Steps[i] = s.Status
		if s.Status == "" || s.Status == fleet.StepRunning || s.Status == fleet.StepCancelled {
			res.Steps[i] = fleet.StepPending
		}
	}
	regions := fleet.OrderRegions(slices.Collect(maps.Keys(byRegion)), prefs.RegionOrder)

	r := &runner{steps: steps, prefs: prefs, deploy: deploy, mu: &mu, emit: emit}
	if prefs.RegionConcurrency == fleet.Parallel {
		var wg sync.WaitGroup
		for _, region := range regions {
			wg.Go(func() {
				if r.region(ctx, region, byRegion[region], res.Steps) {
					mu.Lock()
					res.StoppedRegions = append(res.StoppedRegions, region)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.SortFunc(res.StoppedRegions, func(a, b string) int {
			return slices.Index(regions, a) - slices.Index(regions, b)
		})
	} else {
		for _, region := range regions {
			if len(res.StoppedRegions) > 0 {
				mu.Lock()
				for _, i := range byRegion[region] {
					if !res.Steps[i].Done() {
						emit(Event{Index: i, Target: steps[i].Target, Status: fleet.StepCancelled, Reason: EarlierRegionReason, Region: region})
					}
				}
				mu.Unlock()
				continue
			}
			if r.region(ctx, region, byRegion[region], res.Steps) {
				res.StoppedRegions = append(res.StoppedRegions, region)
			}
		}
	}
	for _, s := range res.Steps {
		if !s.Done() {
			res.Interrupted = true
		}
	}
	return res
}

type runner struct {
	steps  []Step
	prefs  fleet.Preferences
	deploy DeployFunc
	mu     *sync.Mutex
	emit   func(Event)
}

type done struct {
	index   int
	outcome Outcome
}

// region runs the steps of one region and reports whether the region stopped on failures.
// statuses is shared with other regions; only this region's indexes are touched, under r.mu.
func (r *runner) region(ctx context.Context, region string, idx []int, statuses []fleet.StepStatus) (stopped bool) {
	r.mu.Lock()
	sched := NewRegion(r.prefs, idx, statuses)
	r.mu.Unlock()

	results := make(chan done)
	for {
		for ctx.Err() == nil {
			i, ok := sched.Next()
			if !ok {
				break
			}
			r.mu.Lock()
			r.emit(Event{Index: i, Target: r.steps[i].Target, Status: fleet.StepRunning, Region: region})
			r.mu.Unlock()
			go func() { results <- done{i, r.deploy(ctx, i)} }()
		}
		if sched.Running() == 0 {
			break
		}
		d := <-results
		status := fleet.StepSucceeded
		switch {
		case d.outcome.Failed && ctx.Err() != nil:
			// An interrupted deploy is not a failure of the instance: resume re-checks it.
			status = fleet.StepPending
		case d.outcome.Failed:
			status = fleet.StepFailed
		}
		sched.Finished(status)
		r.mu.Lock()
		r.emit(Event{Index: d.index, Target: r.steps[d.index].Target, Status: status, Reason: d.outcome.Reason, Region: region})
		r.mu.Unlock()
	}
	if sched.Stopped() {
		r.mu.Lock()
		for _, i := range sched.Unreached() {
			r.emit(Event{Index: i, Target: r.steps[i].Target, Status: fleet.StepCancelled, Reason: RegionStoppedReason, Region: region})
		}
		r.emit(Event{Index: -1, Region: region, Stopped: true})
		r.mu.Unlock()
	}
	return sched.Stopped()
}

// EarlierRegionReason is the reason of the steps of regions after a stopped one (regions in
// sequence).
const EarlierRegionReason = "operation stopped in an earlier region"

// RegionStoppedReason is the reason of the steps a stopped region did not reach.
const RegionStoppedReason = "region stopped: failures exceeded the failure tolerance"

// Region schedules the steps of one region under the preferences: which step starts next, when
// the region stops. It starts nothing itself, so that every executor drives the same schedule —
// the local one with goroutines, the Temporal one with activities from a workflow (where it must
// be deterministic, as it is: no clock, no randomness, no map order). Not safe for concurrent use.
type Region struct {
	prefs         fleet.Preferences
	n, failed     int
	running, next int
	todo          []int
	stopped       bool
}

// NewRegion schedules the steps idx (indexes into statuses, the steps' statuses before this
// run) of one region: succeeded and failed steps are not run again but count towards the
// region's size and failures; every other step is to run, in the order of idx.
func NewRegion(prefs fleet.Preferences, idx []int, statuses []fleet.StepStatus) *Region {
	r := &Region{prefs: prefs, n: len(idx)}
	for _, i := range idx {
		switch statuses[i] {
		case fleet.StepFailed:
			r.failed++
		case fleet.StepSucceeded:
		default:
			r.todo = append(r.todo, i)
		}
	}
	r.stopped = prefs.Exceeded(r.n, r.failed)
	return r
}

// Next returns the step to start now, if the preferences allow one more; the caller starts it
// and reports its end with Finished.
func (r *Region) Next() (int, bool) {
	if r.stopped || r.next >= len(r.todo) || r.prefs.Concurrency(r.n, r.running, r.failed) <= 0 {
		return 0, false
	}
	i := r.todo[r.next]
	r.next++
	r.running++
	return i, true
}

// Finished records the end of a started step: fleet.StepFailed counts towards the tolerance,
// fleet.StepPending (interrupted) does not count at all.
func (r *Region) Finished(status fleet.StepStatus) {
	r.running--
	if status == fleet.StepFailed {
		r.failed++
		r.stopped = r.stopped || r.prefs.Exceeded(r.n, r.failed)
	}
}

// Running is the number of started steps not finished.
func (r *Region) Running() int { return r.running }

// Stopped reports whether the region's failures exceeded the tolerance.
func (r *Region) Stopped() bool { return r.stopped }

// Unreached are the steps a stopped region never started.
func (r *Region) Unreached() []int { return r.todo[r.next:] }
