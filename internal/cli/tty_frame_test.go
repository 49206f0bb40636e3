package cli

import (
	"io"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// TestTTYFrames renders the live area at fixed moments, its clock stopped, and compares the
// frames with goldens (-update rewrites them): in-flight instances with their elapsed time,
// the ETA from the rate so far, exact counts; a release's stages with a bake countdown and
// gate verdicts.
func TestTTYFrames(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	now := t0
	v := newTTYView(&globals{stdout: io.Discard}, nil)
	v.now = func() time.Time { return now }
	target := func(i int, region string) *fleet.Target {
		return &fleet.Target{Account: "1000000000" + string(rune('0'+i/10)) + string(rune('0'+i%10)), Region: region}
	}
	sp := fleet.StackSetPlan{Name: "baseline"}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		for i := range 10 {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Create, Target: *target(i, r)})
		}
	}
	v.textView.start(sp)
	step := func(i int, region string, s fleet.StepStatus, reason string) {
		v.event(fleet.OperationEvent{Operation: "op", StackSet: "baseline",
			EventDetail: fleet.EventDetail{Time: now, Kind: fleet.EventStep, Target: target(i, region), Status: string(s), Reason: reason}})
	}
	// us-east-1: 4 succeeded in the first 8 s, 1 failed, 3 in flight started 1–3 s ago.
	for i := range 8 {
		now = t0.Add(time.Duration(i) * time.Second)
		step(i, "us-east-1", fleet.StepRunning, "")
	}
	for i := range 5 {
		now = t0.Add(time.Duration(4+i) * time.Second)
		if i == 2 {
			step(i, "us-east-1", fleet.StepFailed, "Queue CREATE_FAILED")
		} else {
			step(i, "us-east-1", fleet.StepSucceeded, "")
		}
	}
	now = t0.Add(10 * time.Second)
	CheckGolden(t, "frame-apply.golden", v.frame(now))

	rel := fleet.Release{ID: "rel-1", Pipeline: "web", Version: "abc"}
	spec := fleet.Pipeline{Name: "web", Stages: []fleet.Stage{{Name: "beta"}, {Name: "gamma"}, {Name: "prod"}}}
	r := newTTYView(&globals{stdout: io.Discard}, nil)
	r.now = func() time.Time { return now }
	r.setRelease(rel, spec, false)
	ev := func(kind fleet.EventKind, status, reason string, tg *fleet.Target) {
		r.event(fleet.ReleaseEvent{Release: "rel-1", Pipeline: "web", Stack: "app",
			EventDetail: fleet.EventDetail{Time: now, Kind: kind, Status: status, Reason: reason, Target: tg}})
	}
	// The engine's own messages (internal/pipeline/engine.go).
	ev(fleet.EventRelease, "RUNNING", "version abc", nil)
	ev(fleet.EventStage, "STARTED", "beta", nil)
	ev(fleet.EventWave, "DEPLOYING", "beta wave 1/1: 2 targets", nil)
	ev(fleet.EventStep, "RUNNING", "", target(1, "us-east-1"))
	ev(fleet.EventStep, "SUCCEEDED", "", target(1, "us-east-1"))
	ev(fleet.EventWave, "SUCCEEDED", "beta wave 1/1", nil)
	ev(fleet.EventStage, "SUCCEEDED", "beta", nil)
	ev(fleet.EventStage, "STARTED", "gamma", nil)
	ev(fleet.EventWave, "DEPLOYING", "gamma wave 2/3: 4 targets", nil)
	ev(fleet.EventGate, "PASSED", "health check GET https://x/health: status 200", target(2, "us-east-1"))
	ev(fleet.EventGate, "PASSED", "health check GET https://x/health: status 200", target(3, "us-east-1"))
	ev(fleet.EventWave, "BAKING", "gamma wave 2/3: until "+now.Add(4*time.Minute+12*time.Second).Format(time.RFC3339)+" (4m12s left)", nil)
	CheckGolden(t, "frame-release-bake.golden", r.frame(now))
	now = now.Add(time.Minute)
	CheckGolden(t, "frame-release-bake-later.golden", r.frame(now))

	// Resumed in gamma's second wave: the engine does not announce the stage again, yet its
	// waves' events land there.
	spec.Stages[1].Waves = make([][]fleet.Target, 3)
	rel.Position, rel.Status = fleet.Position{Stage: 1, Wave: 1, Phase: fleet.PhaseBake}, fleet.ReleaseRunning
	r = newTTYView(&globals{stdout: io.Discard}, nil)
	r.now = func() time.Time { return now }
	r.setRelease(rel, spec, true)
	ev(fleet.EventRelease, "RESUMED", "at gamma wave 2/3, bake since …", nil)
	ev(fleet.EventWave, "BAKING", "gamma wave 2/3: until "+now.Add(30*time.Second).Format(time.RFC3339)+" (30s left)", nil)
	CheckGolden(t, "frame-release-resumed.golden", r.frame(now))
}

// On a short terminal, regions done without failures and regions not started are counted on
// one line instead of a bar each, so the frame fits and the busy regions stay in view.
func TestTTYFrameShortTerminal(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	v := newTTYView(&globals{stdout: io.Discard}, nil)
	v.now = func() time.Time { return now }
	v.height = 16
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
		"ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1", "ca-central-1", "eu-north-1"}
	sp := fleet.StackSetPlan{Name: "baseline"}
	for _, r := range regions {
		sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Create, Target: fleet.Target{Account: "100000000001", Region: r}},
			fleet.Action{Kind: fleet.Create, Target: fleet.Target{Account: "100000000002", Region: r}})
	}
	v.textView.start(sp)
	step := func(account, region string, st fleet.StepStatus) {
		v.event(fleet.OperationEvent{Operation: "op", StackSet: "baseline", EventDetail: fleet.EventDetail{Time: now, Kind: fleet.EventStep,
			Target: &fleet.Target{Account: account, Region: region}, Status: string(st)}})
	}
	for _, r := range regions[:6] { // done
		for _, a := range []string{"100000000001", "100000000002"} {
			step(a, r, fleet.StepRunning)
			step(a, r, fleet.StepSucceeded)
		}
	}
	step("100000000001", regions[6], fleet.StepRunning) // in flight
	step("100000000001", regions[7], fleet.StepRunning)
	step("100000000001", regions[7], fleet.StepFailed) // a failure stays in view
	now = now.Add(2 * time.Second)
	CheckGolden(t, "frame-short-terminal.golden", v.frame(now))
}
