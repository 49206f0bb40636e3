package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pipeline"
)

// memJournal is an in-memory Journal.
type memJournal struct {
	mu        sync.Mutex
	releases  map[string]fleet.Release
	instances map[fleet.Owner]map[fleet.Target]fleet.Instance
	templates map[string][]byte
	approvals map[string]*fleet.Approval
	stages    map[string]string
	gates     []fleet.GateRecord
	events    []fleet.Event
	supersede map[string]bool // releases a newer one supersedes
	// instanceReads counts Instances calls (the alarm watch must not read per target).
	instanceReads int
}

var _ pipeline.Journal = (*memJournal)(nil)

func newJournal() *memJournal {
	return &memJournal{releases: map[string]fleet.Release{}, instances: map[fleet.Owner]map[fleet.Target]fleet.Instance{},
		templates: map[string][]byte{}, approvals: map[string]*fleet.Approval{}, stages: map[string]string{}}
}

func (j *memJournal) UpdateRelease(_ context.Context, r fleet.Release) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.releases[r.ID] = r
	return nil
}
func (j *memJournal) Instances(_ context.Context, key fleet.Owner) ([]fleet.Instance, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.instanceReads++
	return slices.Collect(maps.Values(j.instances[key])), nil
}
func (j *memJournal) Record(_ context.Context, c apply.Change) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.instances[c.Owner] == nil {
		j.instances[c.Owner] = map[fleet.Target]fleet.Instance{}
	}
	if c.Put != nil {
		j.instances[c.Owner][c.Put.Target] = *c.Put
	}
	if c.Delete != nil {
		delete(j.instances[c.Owner], *c.Delete)
	}
	return nil
}
func (j *memJournal) PutTemplate(_ context.Context, hash string, body []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.templates[hash] = body
	return nil
}
func (j *memJournal) Template(_ context.Context, hash string) ([]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, ok := j.templates[hash]
	if !ok {
		return nil, errors.New("no template " + hash)
	}
	return b, nil
}
func (j *memJournal) Approval(_ context.Context, id, stage string) (*fleet.Approval, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.approvals[id+"/"+stage], nil
}
func (j *memJournal) decide(id, stage string, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.approvals[id+"/"+stage] = &fleet.Approval{Approved: ok, By: "tester", Comment: "because"}
}
func (j *memJournal) AddGateRecords(_ context.Context, recs ...fleet.GateRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.gates = append(j.gates, recs...)
	return nil
}
func (j *memJournal) Publish(e fleet.Event) { j.appendEvents(e) }
func (j *memJournal) appendEvents(evs ...fleet.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, evs...)
	return nil
}
func (j *memJournal) AcquireStage(_ context.Context, p, stage, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if h, ok := j.stages[p+"/"+stage]; ok && h != id {
		return fmt.Errorf("%w: %s holds %s", pipeline.ErrStageBusy, h, stage)
	}
	j.stages[p+"/"+stage] = id
	return nil
}
func (j *memJournal) ReleaseStage(_ context.Context, p, stage, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stages[p+"/"+stage] == id {
		delete(j.stages, p+"/"+stage)
	}
	return nil
}
func (j *memJournal) Superseded(_ context.Context, r fleet.Release) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.supersede != nil && j.supersede[r.ID], nil
}

// fakeDeployer keeps a stack per target; a stack's outputs echo its parameters.
type fakeDeployer struct {
	mu     sync.Mutex
	stacks map[fleet.Target]map[string]string // outputs
	fail   map[fleet.Target]string            // template body that fails there → reason
	calls  []string
}

func newDeployer() *fakeDeployer {
	return &fakeDeployer{stacks: map[fleet.Target]map[string]string{}, fail: map[fleet.Target]string{}}
}

func (d *fakeDeployer) Deploy(_ context.Context, t fleet.Target, req apply.DeployRequest, _ func(apply.ResourceEvent)) (apply.DeployResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("deploy %s %s", t, req.Parameters["Version"]))
	if d.fail[t] == string(req.TemplateBody) {
		return apply.DeployResult{}, errors.New("Queue (AWS::SQS::Queue) CREATE_FAILED: boom")
	}
	out := maps.Clone(req.Parameters)
	d.stacks[t] = out
	return apply.DeployResult{StackID: "arn:" + t.String(), Outputs: out}, nil
}

func (d *fakeDeployer) Delete(_ context.Context, t fleet.Target, _ string, _ func(apply.ResourceEvent)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "delete "+t.String())
	delete(d.stacks, t)
	return nil
}

func (d *fakeDeployer) outputs(t fleet.Target) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.stacks[t])
}

// fakeGates: alarms by target (ALARM if set), health and tests by function.
type fakeGates struct {
	mu    sync.Mutex
	alarm map[string]bool // target "acct/region" → in ALARM
	// unreadable: target → how many more alarm reads fail with an API error
	unreadable map[string]int
	health     func(t fleet.GateTarget) fleet.Measurement
	test       func(t fleet.GateTarget) fleet.Measurement
	reads      int
}

func (g *fakeGates) setAlarm(t fleet.Target, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.alarm[t.String()] = on
}

func (g *fakeGates) Alarms(_ context.Context, _ fleet.Stage, _ fleet.AlarmSpec, t fleet.GateTarget) fleet.Measurement {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	if g.alarm[t.Account+"/"+t.Region] {
		return fleet.Measurement{Phase: fleet.Failed, Message: fmt.Sprintf("alarm app-errors in %s/%s is ALARM", t.Account, t.Region)}
	}
	if g.unreadable[t.Account+"/"+t.Region] > 0 {
		g.unreadable[t.Account+"/"+t.Region]--
		return fleet.Measurement{Phase: fleet.Error, Message: fmt.Sprintf("alarms in %s/%s: describe alarms: Throttling: Rate exceeded", t.Account, t.Region)}
	}
	return fleet.Measurement{Phase: fleet.Successful}
}
func (g *fakeGates) Health(_ context.Context, _ fleet.HealthCheck, t fleet.GateTarget) fleet.Measurement {
	if g.health != nil {
		return g.health(t)
	}
	return fleet.Measurement{Phase: fleet.Successful}
}
func (g *fakeGates) Test(_ context.Context, _ fleet.Stage, _ fleet.TestCommand, t fleet.GateTarget) fleet.Measurement {
	if g.test != nil {
		return g.test(t)
	}
	return fleet.Measurement{Phase: fleet.Successful}
}

func tg(a string) fleet.Target { return fleet.Target{Account: a, Region: "us-east-1"} }

// spec: stages beta (1 wave) and prod (waves [p1], [p2 p3]) of one stack; version v.
func spec(version string) fleet.Pipeline {
	checks := fleet.Checks{Bake: time.Hour, Alarms: fleet.AlarmSpec{Names: []string{"app-errors"}},
		Tests: []fleet.TestCommand{{Name: "smoke", Command: "true"}}}
	return fleet.Pipeline{
		Name:   "web",
		Stacks: []fleet.PipelineStack{{Name: "app", TemplateBody: []byte("Resources: {} # " + version), Parameters: map[string]string{"Version": version}}},
		Stages: []fleet.Stage{
			{Name: "beta", Waves: [][]fleet.Target{{tg("b1")}}, WaveChecks: checks, Soak: 2 * time.Hour},
			{Name: "prod", Waves: [][]fleet.Target{{tg("p1")}, {tg("p2"), tg("p3")}}, WaveChecks: checks},
		},
	}
}

func newEngine(d *fakeDeployer, g *fakeGates, j *memJournal) *pipeline.Engine {
	return &pipeline.Engine{Deployer: func(fleet.Stage) apply.Deployer { return d }, Gates: g, Journal: j, Events: j, Poll: time.Minute}
}

func release(id, version string) fleet.Release {
	return fleet.Release{ID: id, Pipeline: "web", Version: version, Status: fleet.ReleaseQueued, CreatedAt: time.Now()}
}

func TestReleaseMovesThroughStagesWithBakesAndSoak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		start := time.Now()
		r, err := newEngine(d, g, j).Run(t.Context(), spec("v1"), release("r1", "v1"))
		if err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("Run() = %s %q, %v; want SUCCEEDED", r.Status, r.Reason, err)
		}
		// beta wave bake 1h, soak 2h, prod two waves of 1h bake each.
		if got, want := time.Since(start), 5*time.Hour; got != want {
			t.Errorf("release took %s of virtual time, want %s", got, want)
		}
		if got := d.outputs(tg("p3"))["Version"]; got != "v1" {
			t.Errorf("p3 runs %q, want v1", got)
		}
		if g.reads == 0 {
			t.Error("alarms were never read")
		}
	})
}

func TestAlarmDuringBakeRollsBackTheWaveToItsOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		e := newEngine(d, g, j)
		if r, err := e.Run(t.Context(), spec("v1"), release("r1", "v1")); err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("first release: %s %v", r.Status, err)
		}
		before := map[string]map[string]string{"p1": d.outputs(tg("p1")), "p2": d.outputs(tg("p2")), "p3": d.outputs(tg("p3"))}

		// Release 2: an alarm goes off in p2 half an hour into the second prod wave's bake.
		go func() {
			for {
				time.Sleep(time.Minute)
				j.mu.Lock()
				rel := j.releases["r2"]
				j.mu.Unlock()
				if rel.Position.Stage == 1 && rel.Position.Wave == 1 && rel.Position.Phase == fleet.PhaseBake {
					time.Sleep(30 * time.Minute)
					g.setAlarm(tg("p2"), true)
					return
				}
			}
		}()
		r, err := e.Run(t.Context(), spec("v2"), release("r2", "v2"))
		if err != nil || r.Status != fleet.ReleaseFailed {
			t.Fatalf("second release: %s %v; want FAILED", r.Status, err)
		}
		if want := "stage prod wave 2/2: alarm app-errors in p2/us-east-1 is ALARM; rolled back"; r.Reason != want {
			t.Errorf("reason = %q, want %q", r.Reason, want)
		}
		for _, a := range []string{"p2", "p3"} {
			if diff := cmp.Diff(before[a], d.outputs(tg(a))); diff != "" {
				t.Errorf("%s outputs after rollback (-before +after):\n%s", a, diff)
			}
		}
		if got := d.outputs(tg("p1"))["Version"]; got != "v2" {
			t.Errorf("p1 (earlier wave, not rolled back by default) runs %s, want v2", got)
		}
		insts, _ := j.Instances(t.Context(), fleet.PipelineOwner("web", "app"))
		for _, in := range insts {
			if in.Target == tg("p2") && (in.Deployed.Parameters["Version"] != "v1" || in.Detail != "ROLLED_BACK") {
				t.Errorf("p2 instance after rollback: %+v", in)
			}
		}
	})
}

func TestResourceFailureRollsBackEarlierWavesNewestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		e := newEngine(d, g, j)
		if _, err := e.Run(t.Context(), spec("v1"), release("r1", "v1")); err != nil {
			t.Fatal(err)
		}
		s := spec("v2")
		s.RollbackEarlierWaves = true
		d.fail[tg("p3")] = string(s.Stacks[0].TemplateBody)
		d.calls = nil
		r, err := e.Run(t.Context(), s, release("r2", "v2"))
		if err != nil || r.Status != fleet.ReleaseFailed {
			t.Fatalf("Run() = %s %v, want FAILED", r.Status, err)
		}
		var rollbacks []string
		for _, c := range d.calls {
			if c == "deploy p1/us-east-1 v1" || c == "deploy p2/us-east-1 v1" || c == "deploy p3/us-east-1 v1" {
				rollbacks = append(rollbacks, c)
			}
		}
		// Wave 2 (p2; p3 failed but was touched) first, then wave 1 (p1).
		if len(rollbacks) != 3 || rollbacks[2] != "deploy p1/us-east-1 v1" {
			t.Errorf("rollback deploys %v: want wave 2's targets, then p1", rollbacks)
		}
		for _, a := range []string{"p1", "p2", "p3"} {
			if got := d.outputs(tg(a))["Version"]; got != "v1" {
				t.Errorf("%s runs %s after rollback, want v1", a, got)
			}
		}
		if got := d.outputs(tg("b1"))["Version"]; got != "v2" {
			t.Errorf("beta (an earlier stage) runs %s, want v2", got)
		}
	})
}

func TestFailedTestRollsBackAndKeepsOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, j := newDeployer(), newJournal()
		g := &fakeGates{alarm: map[string]bool{}, test: func(t fleet.GateTarget) fleet.Measurement {
			return fleet.Measurement{Phase: fleet.Failed, Message: "test smoke exited 1", Output: "GET /health: 503\n"}
		}}
		r, err := newEngine(d, g, j).Run(t.Context(), spec("v1"), release("r1", "v1"))
		if err != nil || r.Status != fleet.ReleaseFailed {
			t.Fatalf("Run() = %s %v, want FAILED", r.Status, err)
		}
		if want := "stage beta wave 1/1: test smoke exited 1\n    | GET /health: 503; rolled back"; r.Reason != want {
			t.Errorf("reason = %q, want %q", r.Reason, want)
		}
		if _, ok := d.stacks[tg("b1")]; ok {
			t.Error("a first deploy that failed its test should be deleted (no earlier version)")
		}
		if len(j.gates) != 1 || j.gates[0].Status != "FAILED" || j.gates[0].Output == "" {
			t.Errorf("gate records = %+v", j.gates)
		}
	})
}

func TestApprovalGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		s := spec("v1")
		s.Stages[1].Approval = true
		go func() {
			time.Sleep(10 * time.Hour)
			j.decide("r1", "prod", true)
		}()
		start := time.Now()
		r, err := newEngine(d, g, j).Run(t.Context(), s, release("r1", "v1"))
		if err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("Run() = %s %v", r.Status, err)
		}
		// Approved at 10h (+ at most one poll), then two prod waves of 1h.
		if got := time.Since(start); got < 12*time.Hour || got > 12*time.Hour+time.Minute {
			t.Errorf("took %s, want 12h (+ one poll)", got)
		}

		j.decide("r2", "prod", false)
		r, _ = newEngine(d, g, j).Run(t.Context(), s, release("r2", "v2"))
		if r.Status != fleet.ReleaseRejected || r.Reason != "stage prod rejected by tester: because" {
			t.Errorf("rejected release = %s %q", r.Status, r.Reason)
		}
	})
}

func TestRestartMidBakeWaitsOnlyTheRemainingTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		s := spec("v1")
		s.Stages = s.Stages[:1] // beta only: deploy, 1h bake
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		go func() {
			time.Sleep(40 * time.Minute)
			cancel() // the process dies 40 minutes into the bake
		}()
		r, err := newEngine(d, g, j).Run(ctx, s, release("r1", "v1"))
		if !errors.Is(err, context.Canceled) || r.Position.Phase != fleet.PhaseBake {
			t.Fatalf("interrupted Run() = %s at %+v, %v", r.Status, r.Position, err)
		}
		stored := j.releases["r1"]
		d.calls = nil
		r, err = newEngine(d, g, j).Run(t.Context(), s, stored)
		if err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("resumed Run() = %s %v", r.Status, err)
		}
		if got := time.Since(start); got != time.Hour {
			t.Errorf("bake ended %s after the start, want 1h (40m before the restart + 20m after)", got)
		}
		if len(d.calls) != 0 {
			t.Errorf("resume redeployed: %v", d.calls)
		}
	})
}

// eventTime returns when release id first emitted kind/status with reason (zero if never).
func (j *memJournal) eventTime(id string, kind fleet.EventKind, status, reason string) time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, ev := range j.events {
		e, ok := ev.(fleet.ReleaseEvent)
		if ok && e.Release == id && e.Kind == kind && e.Status == status && (reason == "" || e.Reason == reason) {
			return e.Time
		}
	}
	return time.Time{}
}

func TestTwoReleasesNeverShareAStage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		e := newEngine(d, g, j)
		var wg sync.WaitGroup
		results := make([]fleet.Release, 2)
		for i, id := range []string{"r1", "r2"} {
			wg.Go(func() {
				if i == 1 {
					time.Sleep(time.Minute) // r2 is started while r1 bakes in beta
				}
				results[i], _ = e.Run(t.Context(), spec("v"+id), release(id, id))
			})
		}
		wg.Wait()
		for _, r := range results {
			if r.Status != fleet.ReleaseSucceeded {
				t.Fatalf("release %s: %s %s", r.ID, r.Status, r.Reason)
			}
		}
		// r2 enters beta only once r1 took prod (after beta's 2h soak), and prod only after r1 is done.
		r1Prod := j.eventTime("r1", "stage", "STARTED", "prod")
		if r2Beta := j.eventTime("r2", "stage", "STARTED", "beta"); r2Beta.Before(r1Prod) {
			t.Errorf("r2 entered beta at %s, before r1 left it for prod at %s", r2Beta, r1Prod)
		}
		r1Done := j.eventTime("r1", "release", "SUCCEEDED", "")
		if r2Prod := j.eventTime("r2", "stage", "STARTED", "prod"); r2Prod.Before(r1Done) {
			t.Errorf("r2 entered prod at %s, before r1 finished at %s", r2Prod, r1Done)
		}
		if j.eventTime("r2", "stage", "QUEUED", "").IsZero() {
			t.Error("r2 never reported waiting for a busy stage")
		}
	})
}

func TestSupersededReleaseStopsBeforeItsFirstStage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		j.supersede = map[string]bool{"r2": true}
		j.stages["web/beta"] = "r1" // r1 deploys to beta
		r, err := newEngine(d, g, j).Run(t.Context(), spec("v2"), release("r2", "v2"))
		if err != nil || r.Status != fleet.ReleaseSuperseded {
			t.Fatalf("Run() = %s %v, want SUPERSEDED", r.Status, err)
		}
		if len(d.calls) != 0 {
			t.Errorf("a superseded release deployed: %v", d.calls)
		}
	})
}

func TestWaveWaitsForItsWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		s := spec("v1")
		s.Stages = s.Stages[1:] // prod only
		win, err := pipeline.ParseWindow("Mon-Fri", "09:00-17:00", "Europe/Paris", nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Stages[0].Windows = []fleet.Window{win}
		// synctest's clock starts at 2000-01-01 00:00 UTC, a Saturday: the first wave waits for
		// Monday 09:00 in Paris (08:00 UTC, winter time).
		r, err := newEngine(d, g, j).Run(t.Context(), s, release("r1", "v1"))
		if err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("Run() = %s %v", r.Status, err)
		}
		deployed := j.eventTime("r1", "wave", "DEPLOYING", "")
		if want := time.Date(2000, 1, 3, 8, 0, 0, 0, time.UTC); !deployed.Equal(want) {
			t.Errorf("first wave deployed at %s, want %s", deployed, want)
		}
		if j.eventTime("r1", "wave", "WAITING_WINDOW", "").IsZero() {
			t.Error("the wait for the window was not reported")
		}
	})
}

func TestAlarmWatchReadsInstancesOncePerPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		s := spec("v1")
		var wave []fleet.Target
		for i := range 50 {
			wave = append(wave, tg(fmt.Sprintf("a%02d", i)))
		}
		s.Stages = []fleet.Stage{{Name: "prod", Waves: [][]fleet.Target{wave}, WaveChecks: s.Stages[0].WaveChecks}}
		r, err := newEngine(d, g, j).Run(t.Context(), s, release("r1", "v1"))
		if err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("Run() = %s %v", r.Status, err)
		}
		// A 1 h bake polled every minute over 50 targets: about 60 polls × 50 alarm reads, but
		// the journal is read once per poll, not once per target.
		if g.reads < 50*60 {
			t.Errorf("alarms read %d times, want every target every poll (≥ %d)", g.reads, 50*60)
		}
		if j.instanceReads > 100 {
			t.Errorf("instances read %d times for ~60 polls, want about one read per poll", j.instanceReads)
		}
	})
}

// TestUnreadableAlarms: alarms that cannot be read (an API error) within the consecutive-error
// limit are events, not failures — the release succeeds; past the limit the wave fails with a
// reason saying the alarms could not be read, and is rolled back.
func TestUnreadableAlarms(t *testing.T) {
	for _, tc := range []struct {
		name       string
		unreadable int
		want       fleet.ReleaseStatus
		reason     string
	}{
		{"transient", fleet.DefaultConsecutiveErrorLimit, fleet.ReleaseSucceeded, ""},
		{"persistent", 1000, fleet.ReleaseFailed,
			"stage beta wave 1/1: alarms could not be read 5 times in a row: alarms in b1/us-east-1: describe alarms: Throttling: Rate exceeded; rolled back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d, j := newDeployer(), newJournal()
				g := &fakeGates{alarm: map[string]bool{}, unreadable: map[string]int{"b1/us-east-1": tc.unreadable}}
				r, err := newEngine(d, g, j).Run(t.Context(), spec("v1"), release("r1", "v1"))
				if err != nil || r.Status != tc.want || r.Reason != tc.reason {
					t.Fatalf("Run() = %s %q, %v; want %s %q", r.Status, r.Reason, err, tc.want, tc.reason)
				}
				unreadable := 0
				for _, e := range j.events {
					if d := e.Detail(); d.Kind == fleet.EventGate && d.Status == "UNREADABLE" {
						unreadable++
					}
				}
				if want := min(tc.unreadable, fleet.DefaultConsecutiveErrorLimit); unreadable != want {
					t.Errorf("%d UNREADABLE gate events, want %d", unreadable, want)
				}
			})
		})
	}
}

// TestFailedRollbackCanBeRetried: a target whose rollback fails is not counted as rolled back,
// and rolling back again retries it (and only it).
func TestFailedRollbackCanBeRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		e := newEngine(d, g, j)
		v1, v2 := spec("v1"), spec("v2")
		if r, err := e.Run(t.Context(), v1, release("r1", "v1")); err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("first release: %s %v", r.Status, err)
		}
		if r, err := e.Run(t.Context(), v2, release("r2", "v2")); err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("second release: %s %v", r.Status, err)
		}
		prod := v2.Stages[1]
		targets := append(slices.Clone(prod.Waves[0]), prod.Waves[1]...)
		d.mu.Lock()
		d.fail[tg("p2")] = string(v1.Stacks[0].TemplateBody) // going back to v1 fails in p2
		d.mu.Unlock()
		n, err := e.RollbackTargets(t.Context(), v2, prod, "r2", targets)
		if err == nil || n != 2 {
			t.Fatalf("rollback = %d, %v; want 2 rolled back and p2 failing", n, err)
		}
		d.mu.Lock()
		delete(d.fail, tg("p2"))
		d.calls = nil
		d.mu.Unlock()
		n, err = e.RollbackTargets(t.Context(), v2, prod, "r2", targets)
		if err != nil || n != 1 {
			t.Fatalf("retried rollback = %d, %v; want 1", n, err)
		}
		if diff := cmp.Diff([]string{"deploy p2/us-east-1 v1"}, d.calls); diff != "" {
			t.Errorf("retried rollback deploys (-want +got):\n%s", diff)
		}
		if n, err := e.RollbackTargets(t.Context(), v2, prod, "r2", targets); err != nil || n != 0 {
			t.Errorf("third rollback = %d, %v; want nothing left", n, err)
		}
	})
}

// TestRollback rolls a finished release back: every instance it deployed goes back to the
// version before it (or is deleted), the release is ROLLED_BACK, and a second rollback finds
// nothing to roll back.
func TestRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, g, j := newDeployer(), &fakeGates{alarm: map[string]bool{}}, newJournal()
		e := newEngine(d, g, j)
		if r, err := e.Run(t.Context(), spec("v1"), release("r1", "v1")); err != nil || r.Status != fleet.ReleaseSucceeded {
			t.Fatalf("first release: %s %v", r.Status, err)
		}
		r2, err := e.Run(t.Context(), spec("v2"), release("r2", "v2"))
		if err != nil || r2.Status != fleet.ReleaseSucceeded {
			t.Fatalf("second release: %s %v", r2.Status, err)
		}
		n, err := e.Rollback(t.Context(), spec("v2"), r2, "by tester")
		if err != nil || n != 4 {
			t.Fatalf("Rollback() = %d, %v; want 4 instances", n, err)
		}
		if got := j.releases["r2"]; got.Status != fleet.ReleaseRolledBack || got.Reason != "by tester" {
			t.Errorf("release after rollback: %s %q", got.Status, got.Reason)
		}
		for tgt, stacks := range d.stacks {
			if stacks["Version"] != "v1" {
				t.Errorf("%s runs %q after the rollback, want v1", tgt, stacks["Version"])
			}
		}
		if j.eventTime("r2", fleet.EventRollback, string(fleet.ReleaseRolledBack), "").IsZero() {
			t.Error("no ROLLED_BACK rollback event")
		}
		if _, err := e.Rollback(t.Context(), spec("v2"), j.releases["r2"], "again"); !errors.Is(err, pipeline.ErrNothingToRollBack) {
			t.Errorf("second Rollback() error = %v, want ErrNothingToRollBack", err)
		}
	})
}
