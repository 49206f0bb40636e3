package rollout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/rollout"
)

func ptr(n int) *int { return &n }

// fleetSteps is accounts × regions, account ids "a00".."aNN".
func fleetSteps(accounts int, regions ...string) []rollout.Step {
	var steps []rollout.Step
	for _, r := range regions {
		for a := range accounts {
			steps = append(steps, rollout.Step{Target: fleet.Target{Account: fmt.Sprintf("a%02d", a), Region: r}})
		}
	}
	return steps
}

// recorder is a deployer that fails the given accounts and measures concurrency.
type recorder struct {
	mu                sync.Mutex
	fail              map[string]bool
	running, peak     map[string]int
	peakRunningFailed map[string]int // per region: max of (running + failed so far)
	failedSoFar       map[string]int
	calls             []fleet.Target
}

func newRecorder(fail ...string) *recorder {
	r := &recorder{fail: map[string]bool{}, running: map[string]int{}, peak: map[string]int{},
		peakRunningFailed: map[string]int{}, failedSoFar: map[string]int{}}
	for _, f := range fail {
		r.fail[f] = true
	}
	return r
}

func (r *recorder) deploy(ctx context.Context, s rollout.Step) rollout.Outcome {
	reg := s.Target.Region
	r.mu.Lock()
	r.calls = append(r.calls, s.Target)
	r.running[reg]++
	r.peak[reg] = max(r.peak[reg], r.running[reg])
	r.peakRunningFailed[reg] = max(r.peakRunningFailed[reg], r.running[reg]+r.failedSoFar[reg])
	r.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[reg]--
	if r.fail[s.Target.Account] || r.fail[s.Target.String()] {
		r.failedSoFar[reg]++
		return rollout.Outcome{Failed: true, Reason: "boom in " + s.Target.String()}
	}
	return rollout.Outcome{}
}

// byIndex adapts a deploy function over steps to rollout's index-based DeployFunc.
func byIndex(steps []rollout.Step, deploy func(context.Context, rollout.Step) rollout.Outcome) rollout.DeployFunc {
	return func(ctx context.Context, i int) rollout.Outcome { return deploy(ctx, steps[i]) }
}

func count(res rollout.Result, steps []rollout.Step, region string) map[fleet.StepStatus]int {
	out := map[fleet.StepStatus]int{}
	for i, s := range steps {
		if s.Target.Region == region {
			out[res.Steps[i]]++
		}
	}
	return out
}

func TestStrictModeStopsRegionAndCancelsTheNext(t *testing.T) {
	steps := fleetSteps(12, "us-east-1", "eu-west-1")
	prefs := fleet.Preferences{
		MaxConcurrent:    fleet.Limit{Count: ptr(6)},
		FailureTolerance: fleet.Limit{Count: ptr(1)},
		RegionOrder:      []string{"us-east-1", "eu-west-1"},
	}
	rec := newRecorder("a01", "a02", "a03", "a04")
	res := rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), nil)

	if !res.Failed() || !cmp.Equal(res.StoppedRegions, []string{"us-east-1"}) {
		t.Fatalf("StoppedRegions = %v, want [us-east-1]", res.StoppedRegions)
	}
	us := count(res, steps, "us-east-1")
	if us[fleet.StepFailed] > 2 {
		t.Errorf("strict mode: %d failed accounts, want at most tolerance+1 = 2", us[fleet.StepFailed])
	}
	if rec.peakRunningFailed["us-east-1"] > 2 {
		t.Errorf("strict mode: running+failed reached %d, want ≤ 2", rec.peakRunningFailed["us-east-1"])
	}
	if us[fleet.StepCancelled] == 0 {
		t.Errorf("us-east-1 statuses %v: want the unstarted accounts CANCELLED", us)
	}
	if diff := cmp.Diff(map[fleet.StepStatus]int{fleet.StepCancelled: 12}, count(res, steps, "eu-west-1")); diff != "" {
		t.Errorf("eu-west-1 should be all CANCELLED (-want +got):\n%s", diff)
	}
	for _, c := range rec.calls {
		if c.Region == "eu-west-1" {
			t.Fatalf("deployed %v in a region after the stopped one", c)
		}
	}
}

func TestSoftModeKeepsConcurrency(t *testing.T) {
	steps := fleetSteps(12, "us-east-1")
	prefs := fleet.Preferences{
		MaxConcurrent:    fleet.Limit{Count: ptr(6)},
		FailureTolerance: fleet.Limit{Count: ptr(1)},
		Mode:             fleet.Soft,
	}
	// All of the first batch fail: soft mode launched 6 at once, so 6 fail, more than tolerance+1.
	rec := newRecorder("a00", "a01", "a02", "a03", "a04", "a05")
	var mu sync.Mutex
	var peakLaunched, launched int
	observe := func(e rollout.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Status {
		case fleet.StepRunning:
			launched++
			peakLaunched = max(peakLaunched, launched)
		case fleet.StepSucceeded, fleet.StepFailed:
			launched--
		}
	}
	res := rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), observe)
	got := count(res, steps, "us-east-1")
	if peakLaunched != 6 {
		t.Errorf("soft mode launched at most %d at once, want 6", peakLaunched)
	}
	if got[fleet.StepFailed] < 2 || !res.Failed() {
		t.Errorf("statuses %v, failed=%v: want the region stopped", got, res.Failed())
	}
	if got[fleet.StepSucceeded]+got[fleet.StepFailed]+got[fleet.StepCancelled] != 12 {
		t.Errorf("statuses %v do not account for 12 steps", got)
	}
}

func TestWithinToleranceSucceeds(t *testing.T) {
	steps := fleetSteps(10, "us-east-1", "eu-west-1")
	prefs := fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(50)}, FailureTolerance: fleet.Limit{Percentage: ptr(10)}}
	rec := newRecorder("a03/eu-west-1")
	res := rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), nil)
	if res.Failed() || res.Interrupted {
		t.Fatalf("Failed=%v Interrupted=%v, want success within tolerance", res.Failed(), res.Interrupted)
	}
	if diff := cmp.Diff(map[fleet.StepStatus]int{fleet.StepSucceeded: 9, fleet.StepFailed: 1}, count(res, steps, "eu-west-1")); diff != "" {
		t.Error(diff)
	}
	// Strict with tolerance 1 (10% of 10): concurrency is min(5, 2) = 2.
	if rec.peak["us-east-1"] > 2 {
		t.Errorf("peak concurrency %d, want ≤ 2 (strict: tolerance+1)", rec.peak["us-east-1"])
	}
}

func TestSequentialRegionOrder(t *testing.T) {
	steps := fleetSteps(2, "ap-northeast-1", "eu-west-1", "us-east-1")
	prefs := fleet.Preferences{RegionOrder: []string{"us-east-1", "ap-northeast-1"}}
	rec := newRecorder()
	rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), nil)
	var regions []string
	for _, c := range rec.calls {
		if len(regions) == 0 || regions[len(regions)-1] != c.Region {
			regions = append(regions, c.Region)
		}
	}
	if diff := cmp.Diff([]string{"us-east-1", "ap-northeast-1", "eu-west-1"}, regions); diff != "" {
		t.Errorf("region order (-want +got):\n%s", diff)
	}
}

func TestParallelRegionsAreIndependent(t *testing.T) {
	steps := fleetSteps(4, "us-east-1", "eu-west-1")
	prefs := fleet.Preferences{RegionConcurrency: fleet.Parallel, MaxConcurrent: fleet.Limit{Count: ptr(4)}}
	rec := newRecorder("a00/us-east-1")
	res := rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), nil)
	if diff := cmp.Diff([]string{"us-east-1"}, res.StoppedRegions); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(map[fleet.StepStatus]int{fleet.StepSucceeded: 4}, count(res, steps, "eu-west-1")); diff != "" {
		t.Errorf("the other parallel region should finish (-want +got):\n%s", diff)
	}
}

func TestResumeSkipsFinishedStepsAndCountsTheirFailures(t *testing.T) {
	steps := fleetSteps(4, "us-east-1")
	steps[0].Status = fleet.StepSucceeded
	steps[1].Status = fleet.StepFailed
	steps[2].Status = fleet.StepRunning // in flight when the process died: deployed again (idempotent)
	prefs := fleet.Preferences{FailureTolerance: fleet.Limit{Count: ptr(1)}}
	rec := newRecorder("a03")
	res := rollout.Run(t.Context(), steps, prefs, byIndex(steps, rec.deploy), nil)
	var called []string
	for _, c := range rec.calls {
		called = append(called, c.Account)
	}
	if diff := cmp.Diff([]string{"a02", "a03"}, called); diff != "" {
		t.Errorf("resumed deploys (-want +got):\n%s", diff)
	}
	if !res.Failed() {
		t.Error("the recorded failure plus a new one exceed tolerance 1: want the region stopped")
	}
}

func TestInterruptedLeavesStepsPending(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	steps := fleetSteps(5, "us-east-1")
	deploy := func(ctx context.Context, s rollout.Step) rollout.Outcome {
		if s.Target.Account == "a01" {
			cancel()
			<-ctx.Done()
			return rollout.Outcome{Failed: true, Reason: ctx.Err().Error()}
		}
		return rollout.Outcome{}
	}
	res := rollout.Run(ctx, steps, fleet.Preferences{}, byIndex(steps, deploy), nil)
	want := []fleet.StepStatus{fleet.StepSucceeded, fleet.StepPending, fleet.StepPending, fleet.StepPending, fleet.StepPending}
	if diff := cmp.Diff(want, res.Steps); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !res.Interrupted || res.Failed() {
		t.Errorf("Interrupted=%v Failed=%v, want interrupted and not failed", res.Interrupted, res.Failed())
	}
}
