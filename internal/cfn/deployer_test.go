package cfn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

const tmplV1 = `
Parameters:
  Env: {Type: String, Default: dev}
  Size: {Type: Number, Default: 3}
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${AWS::StackName}-topic"
`

const tmplV2 = tmplV1 + `  Queue: {Type: AWS::SQS::Queue}
`

// fastOpts polls quickly and deterministically: tests run in synctest bubbles anyway, but
// fewer timer wake-ups keep them readable.
func fastOpts() cfn.DeployerOptions {
	return cfn.DeployerOptions{Jitter: -1}
}

func TestDeployCreateUpdateNoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()

		got, err := d.Describe(ctx, "app")
		if err != nil || got.Exists {
			t.Fatalf("Describe before create = %+v, %v; want not existing", got, err)
		}

		var events []string
		in := cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1), Parameters: map[string]string{"Env": "prod"}, ClientToken: "op-1"}
		st, err := d.Deploy(ctx, in, func(e cfn.ResourceEvent) { events = append(events, e.LogicalID+" "+e.Status) })
		if err != nil {
			t.Fatalf("Deploy create: %v", err)
		}
		if st.Status != "CREATE_COMPLETE" || st.Outputs["Resources"] != "2" || st.Parameters["Env"] != "prod" {
			t.Errorf("created stack = %+v", st)
		}
		wantEvents := []string{
			"app CREATE_IN_PROGRESS",
			"Bucket CREATE_IN_PROGRESS", "Bucket CREATE_COMPLETE",
			"Topic CREATE_IN_PROGRESS", "Topic CREATE_COMPLETE",
			"app CREATE_COMPLETE",
		}
		if diff := cmp.Diff(wantEvents, events); diff != "" {
			t.Errorf("progress events (-want +got):\n%s", diff)
		}

		// Same template and parameters (Size left at its default): nothing to do, no change set.
		before := fake.count("CreateChangeSet")
		st, err = d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1), Parameters: map[string]string{"Env": "prod"}}, nil)
		if err != nil || st.Status != "CREATE_COMPLETE" {
			t.Fatalf("Deploy unchanged = %+v, %v", st, err)
		}
		if n := fake.count("CreateChangeSet") - before; n != 0 {
			t.Errorf("Deploy unchanged created %d change sets, want 0", n)
		}

		// A different template body with the same resources: a change set without changes.
		before, execs := fake.count("CreateChangeSet"), fake.count("ExecuteChangeSet")
		st, err = d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1 + "# comment\n"), Parameters: map[string]string{"Env": "prod"}}, nil)
		if err != nil || st.Status != "CREATE_COMPLETE" {
			t.Fatalf("Deploy without changes = %+v, %v", st, err)
		}
		if c, e := fake.count("CreateChangeSet")-before, fake.count("ExecuteChangeSet")-execs; c != 1 || e != 0 {
			t.Errorf("Deploy without changes: %d change sets, %d executions; want 1, 0", c, e)
		}

		st, err = d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV2), Parameters: map[string]string{"Env": "prod", "Size": "5"}}, nil)
		if err != nil {
			t.Fatalf("Deploy update: %v", err)
		}
		if st.Status != "UPDATE_COMPLETE" || st.Outputs["Resources"] != "3" || st.Parameters["Size"] != "5" {
			t.Errorf("updated stack = %+v", st)
		}
	})
}

// A new stack is created with CreateStack (no change set); with Absent, without looking first.
// A stack that exists after all is deployed as usual.
func TestDeployCreatesDirectly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()
		st, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1), ClientToken: "op-1", Absent: true}, nil)
		if err != nil || st.Status != "CREATE_COMPLETE" {
			t.Fatalf("Deploy = %+v, %v", st, err)
		}
		calls := map[string]int{}
		for _, op := range []string{"CreateStack", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DescribeStacks", "DescribeStackEvents"} {
			calls[op] = fake.count(op)
		}
		if calls["CreateStack"] != 1 || calls["CreateChangeSet"]+calls["DescribeChangeSet"]+calls["ExecuteChangeSet"] != 0 {
			t.Errorf("calls %v: want one CreateStack and no change set", calls)
		}
		// Absent, but it exists: an update through a change set.
		st, err = d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV2), ClientToken: "op-2", Absent: true}, nil)
		if err != nil || st.Status != "UPDATE_COMPLETE" || st.Outputs["Resources"] != "3" {
			t.Fatalf("Deploy of an existing stack said absent = %+v, %v", st, err)
		}
		if n := fake.count("ExecuteChangeSet"); n != 1 {
			t.Errorf("change sets executed %d, want 1", n)
		}
	})
}

func TestDeployFailureReportsFirstFailureOfThisOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()
		in := cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}

		fake.failNext("app", "Topic")
		_, err := d.Deploy(ctx, in, nil)
		want := &cfn.DeployError{StackName: "app", Status: "ROLLBACK_COMPLETE",
			Reason:       "",
			FirstFailure: &cfn.ResourceEvent{LogicalID: "Topic", PhysicalID: "Topic-phys", Type: "AWS::SNS::Topic", Status: "CREATE_FAILED", Reason: "boom: Topic failed"}}
		checkDeployError(t, err, want)

		// ROLLBACK_COMPLETE cannot be updated: Deploy deletes and creates again.
		st, err := d.Deploy(ctx, in, nil)
		if err != nil || st.Status != "CREATE_COMPLETE" {
			t.Fatalf("Deploy after failed create = %+v, %v", st, err)
		}
		if n := fake.count("DeleteStack"); n != 1 {
			t.Errorf("DeleteStack calls = %d, want 1", n)
		}

		// Two failed updates in a row: the second reports its own failure, not the first's.
		v2 := cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV2), ClientToken: "upd-1"}
		fake.failNext("app", "Bucket")
		_, err = d.Deploy(ctx, v2, nil)
		checkDeployError(t, err, &cfn.DeployError{StackName: "app", Status: "UPDATE_ROLLBACK_COMPLETE",
			FirstFailure: &cfn.ResourceEvent{LogicalID: "Bucket", PhysicalID: "Bucket-phys", Type: "AWS::S3::Bucket", Status: "UPDATE_FAILED", Reason: "boom: Bucket failed"}})
		v2.ClientToken = "upd-2"
		fake.failNext("app", "Queue")
		_, err = d.Deploy(ctx, v2, nil)
		checkDeployError(t, err, &cfn.DeployError{StackName: "app", Status: "UPDATE_ROLLBACK_COMPLETE",
			FirstFailure: &cfn.ResourceEvent{LogicalID: "Queue", PhysicalID: "Queue-phys", Type: "AWS::SQS::Queue", Status: "UPDATE_FAILED", Reason: "boom: Queue failed"}})

		// Calling again with the failed operation's token reports that failure: it is not retried.
		execs := fake.count("ExecuteChangeSet")
		_, err = d.Deploy(ctx, v2, nil)
		checkDeployError(t, err, &cfn.DeployError{StackName: "app", Status: "UPDATE_ROLLBACK_COMPLETE",
			FirstFailure: &cfn.ResourceEvent{LogicalID: "Queue", PhysicalID: "Queue-phys", Type: "AWS::SQS::Queue", Status: "UPDATE_FAILED", Reason: "boom: Queue failed"}})
		if n := fake.count("ExecuteChangeSet") - execs; n != 0 {
			t.Errorf("resuming a failed operation executed %d change sets, want 0", n)
		}
	})
}

func checkDeployError(t *testing.T, err error, want *cfn.DeployError) {
	t.Helper()
	got, ok := errors.AsType[*cfn.DeployError](err)
	if !ok {
		t.Fatalf("error = %v, want a *DeployError", err)
	}
	if diff := cmp.Diff(want, got, ignoreTimeAndReason()); diff != "" {
		t.Errorf("DeployError (-want +got):\n%s", diff)
	}
	if want.FirstFailure != nil && !strings.Contains(got.Error(), want.FirstFailure.Reason) {
		t.Errorf("Error() = %q, want it to name the first failure", got.Error())
	}
}

func ignoreTimeAndReason() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return s == "FirstFailure.Time" || s == "Reason"
	}, cmp.Ignore())
}

func TestDeployResumesRunningOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		in := cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1), ClientToken: "op-1"}

		// The first run "crashes" while the stack is being created.
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := d.Deploy(ctx, in, nil)
			done <- err
		}()
		for fake.operations() == 0 {
			time.Sleep(100 * time.Millisecond) // fake time: advances instantly in the bubble
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted Deploy = %v, want context.Canceled", err)
		}

		var events []string
		st, err := d.Deploy(t.Context(), in, func(e cfn.ResourceEvent) { events = append(events, e.LogicalID+" "+e.Status) })
		if err != nil || st.Status != "CREATE_COMPLETE" {
			t.Fatalf("resumed Deploy = %+v, %v", st, err)
		}
		if c, cs := fake.count("CreateStack"), fake.count("CreateChangeSet"); c != 1 || cs != 0 {
			t.Errorf("stacks created %d, change sets %d; want 1, 0", c, cs)
		}
		if len(events) == 0 || events[len(events)-1] != "app CREATE_COMPLETE" {
			t.Errorf("resumed progress = %q, want it to end with the stack's completion", events)
		}
	})
}

func TestDeployWaitsForAnotherOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()
		if _, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}, nil); err != nil {
			t.Fatal(err)
		}
		// Someone else starts an update, then we deploy v2 with our own token.
		other, cancel := context.WithCancel(ctx)
		go func() {
			_, _ = d.Deploy(other, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1), Parameters: map[string]string{"Env": "x"}, ClientToken: "theirs"}, nil)
		}()
		for fake.operations() < 2 {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		st, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV2), ClientToken: "ours"}, nil)
		if err != nil || st.Status != "UPDATE_COMPLETE" || st.Outputs["Resources"] != "3" {
			t.Fatalf("Deploy after another update = %+v, %v", st, err)
		}
		if n := fake.operations(); n != 3 {
			t.Errorf("stack operations = %d, want 3", n)
		}
	})
}

func TestPreview(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()
		v1 := cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}

		got, err := d.Preview(ctx, v1)
		if err != nil {
			t.Fatal(err)
		}
		want := []fleet.ResourceChange{
			{Action: "Add", LogicalID: "Bucket", Type: "AWS::S3::Bucket", Replacement: "False"},
			{Action: "Add", LogicalID: "Topic", Type: "AWS::SNS::Topic", Replacement: "False"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Preview of a new stack (-want +got):\n%s", diff)
		}
		if st, err := d.Describe(ctx, "app"); err != nil || st.Exists {
			t.Errorf("after previewing a new stack, Describe = %+v, %v; want no stack left behind", st, err)
		}

		if _, err := d.Deploy(ctx, v1, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Preview(ctx, v1); err != nil || len(got) != 0 {
			t.Errorf("Preview of a matching stack = %v, %v; want none", got, err)
		}
		got, err = d.Preview(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV2)})
		if err != nil {
			t.Fatal(err)
		}
		want = []fleet.ResourceChange{
			{Action: "Modify", LogicalID: "Bucket", Type: "AWS::S3::Bucket", Replacement: "False"},
			{Action: "Add", LogicalID: "Queue", Type: "AWS::SQS::Queue", Replacement: "False"},
			{Action: "Modify", LogicalID: "Topic", Type: "AWS::SNS::Topic", Replacement: "False"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Preview of an update (-want +got):\n%s", diff)
		}
		if n := fake.count("DeleteChangeSet"); n != 1 {
			t.Errorf("DeleteChangeSet calls = %d, want 1 (the update preview's)", n)
		}
		if st, _ := d.Describe(ctx, "app"); st.Status != "CREATE_COMPLETE" {
			t.Errorf("Preview changed the stack: %+v", st)
		}

		// A stack Deploy would replace previews as the template's resources.
		fake.failNext("broken", "Bucket")
		if _, err := d.Deploy(ctx, cfn.DeployInput{StackName: "broken", TemplateBody: []byte(tmplV1)}, nil); err == nil {
			t.Fatal("want the injected failure")
		}
		got, err = d.Preview(ctx, cfn.DeployInput{StackName: "broken", TemplateBody: []byte(tmplV1)})
		want = []fleet.ResourceChange{{Action: "Add", LogicalID: "Bucket", Type: "AWS::S3::Bucket"}, {Action: "Add", LogicalID: "Topic", Type: "AWS::SNS::Topic"}}
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("Preview of ROLLBACK_COMPLETE = %v; (-want +got):\n%s", err, diff)
		}
	})
}

func TestDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx := t.Context()
		if err := d.Delete(ctx, "app", nil); err != nil || fake.count("DeleteStack") != 0 {
			t.Fatalf("Delete of a missing stack = %v with %d DeleteStack calls; want nil, 0", err, fake.count("DeleteStack"))
		}
		if _, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}, nil); err != nil {
			t.Fatal(err)
		}
		var events []string
		if err := d.Delete(ctx, "app", func(e cfn.ResourceEvent) { events = append(events, e.LogicalID+" "+e.Status) }); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		want := []string{"app DELETE_IN_PROGRESS", "Topic DELETE_COMPLETE", "Bucket DELETE_COMPLETE", "app DELETE_COMPLETE"}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("delete progress (-want +got):\n%s", diff)
		}
		if st, err := d.Describe(ctx, "app"); err != nil || st.Exists {
			t.Errorf("after Delete, Describe = %+v, %v", st, err)
		}
		if err := d.Delete(ctx, "app", nil); err != nil || fake.count("DeleteStack") != 1 {
			t.Errorf("second Delete = %v, DeleteStack calls %d; want nil, 1", err, fake.count("DeleteStack"))
		}
	})
}

func TestDeployHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.opDelay = time.Hour
		d := cfn.NewDeployerWithAPI(fake, fastOpts())
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Deploy past its deadline = %v, want DeadlineExceeded", err)
		}
	})
}

func TestInputValidation(t *testing.T) {
	d := cfn.NewDeployerWithAPI(newFake(), fastOpts())
	for _, in := range []cfn.DeployInput{
		{TemplateBody: []byte(tmplV1)},
		{StackName: "app"},
		{StackName: "app", TemplateBody: []byte(tmplV1), ClientToken: strings.Repeat("x", 129)},
	} {
		if _, err := d.Deploy(t.Context(), in, nil); err == nil {
			t.Errorf("Deploy(%+v) succeeded, want an error", in)
		}
	}
}

// TestPollingIsPromptAndFrugal deploys stacks taking 5 s each (plus 1 s for the change set)
// in waves, as a rollout would (fake time: the test takes a fraction of a second), with the default (jittered) schedule, and checks the wall time
// against the ideal and the read calls of every instance. Jitter makes single runs vary, so
// each scenario runs several times: the median must be within 10% of the ideal (the target),
// the worst within 20%.
func TestPollingIsPromptAndFrugal(t *testing.T) {
	for _, tc := range []struct {
		instances, concurrency int
		spread                 float64 // of stack durations
		reads                  int     // most read calls an instance may make
		median                 float64 // most the median wall time may exceed the ideal by
	}{
		{8, 1, 0, 10, 0.10},
		{40, 20, 0, 10, 0.10},
		{60, 20, 0, 10, 0.10},
		{100, 10, 0, 10, 0.10},
		// Durations spread ±10% (beyond the target): a little later, a few more reads.
		{100, 10, 0.1, 12, 0.15},
	} {
		t.Run(fmt.Sprintf("%d by %d spread %v", tc.instances, tc.concurrency, tc.spread), func(t *testing.T) {
			const runs = 9
			var ratios []float64
			maxReads := 0
			for range runs {
				synctest.Test(t, func(t *testing.T) {
					ratio, reads := rollout(t, tc.instances, tc.concurrency, tc.spread)
					ratios = append(ratios, ratio)
					maxReads = max(maxReads, slices.Max(reads))
				})
			}
			slices.Sort(ratios)
			t.Logf("wall/ideal %.3f, most reads by an instance %d", ratios, maxReads)
			if median := ratios[runs/2]; median > 1+tc.median {
				t.Errorf("median wall time is %.1f%% over the ideal, want at most %.0f%%", (median-1)*100, tc.median*100)
			}
			if worst := ratios[runs-1]; worst > 1.20 {
				t.Errorf("worst wall time is %.1f%% over the ideal, want at most 20%%", (worst-1)*100)
			}
			if maxReads > tc.reads {
				t.Errorf("an instance made %d read calls, want at most %d", maxReads, tc.reads)
			}
		})
	}
}

// An operation that is over at once is seen at once: before anything of its kind has finished
// in the process, the first poll goes a fifth of PollInitial in, not PollInitial.
func TestFirstPollIsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.opDelay, fake.csDelay = 0, 0
		d := cfn.NewDeployerWithAPI(fake, cfn.DeployerOptions{Jitter: -1, PollInitial: 500 * time.Millisecond})
		start := time.Now()
		if _, err := d.Deploy(t.Context(), cfn.DeployInput{StackName: "app", TemplateBody: []byte(tmplV1)}, nil); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("an instant create took %v to be seen, want 100ms (a fifth of the 500ms PollInitial)", took)
		}
	})
}

// rollout deploys instances new stacks, concurrency at a time, with one shared Timing, and
// returns the wall time over the ideal and each instance's read calls.
func rollout(t *testing.T, instances, concurrency int, spread float64) (float64, []int) {
	fake := newFake()
	fake.spread = spread
	timing := cfn.NewTiming()
	reads := make([]int, instances)
	sem := make(chan struct{}, concurrency)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			counter := &countingAPI{API: fake}
			d := cfn.NewDeployerWithAPI(counter, cfn.DeployerOptions{Timing: timing})
			in := cfn.DeployInput{StackName: fmt.Sprintf("s%d", i), TemplateBody: []byte(tmplV1)}
			if _, err := d.Deploy(t.Context(), in, nil); err != nil {
				t.Error(err)
			}
			reads[i] = counter.reads()
		})
	}
	wg.Wait()
	waves := (instances + concurrency - 1) / concurrency
	ideal := time.Duration(waves) * fake.opDelay // new stacks: CreateStack, no change set
	if e, ok := timing.Estimate("create"); !ok || e < fake.opDelay*9/10-time.Duration(spread*float64(fake.opDelay)) || e > fake.opDelay*11/10+time.Duration(spread*float64(fake.opDelay)) {
		t.Errorf("create estimate = %v, %v; want about %v", e, ok, fake.opDelay)
	}
	return float64(time.Since(start)) / float64(ideal), reads
}

// countingAPI counts one deployer's read calls.
type countingAPI struct {
	cfn.API
	mu sync.Mutex
	n  int
}

func (c *countingAPI) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingAPI) inc() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *countingAPI) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	c.inc()
	return c.API.DescribeStacks(ctx, in, o...)
}

func (c *countingAPI) DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	c.inc()
	return c.API.DescribeStackEvents(ctx, in, o...)
}

func (c *countingAPI) DescribeChangeSet(ctx context.Context, in *cloudformation.DescribeChangeSetInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeChangeSetOutput, error) {
	c.inc()
	return c.API.DescribeChangeSet(ctx, in, o...)
}

func (c *countingAPI) GetTemplate(ctx context.Context, in *cloudformation.GetTemplateInput, o ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	c.inc()
	return c.API.GetTemplate(ctx, in, o...)
}
