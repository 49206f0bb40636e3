package cfn_test

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// sandboxEnv is a started sandbox and stackfleet's clients for its management account.
type sandboxEnv struct {
	sb      *sandbox.Sandbox
	clients *awsclient.Clients
}

func startSandbox(t *testing.T, opts sandbox.Options) *sandboxEnv {
	t.Helper()
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	// Closed before the sandbox: a connection dialled but never used would otherwise hold its
	// graceful shutdown for 5 s.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	creds := sb.ManagementCredentials()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	clients, err := awsclient.New(t.Context(), awsclient.Options{
		Region: creds.Region, Endpoint: url, HTTPClient: &http.Client{Transport: transport},
		RatePerSecond: 1000, Burst: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxEnv{sb: sb, clients: clients}
}

// deployer returns a Deployer acting in account and region through the execution role.
func (e *sandboxEnv) deployer(t *testing.T, account, region string, opts cfn.DeployerOptions) *cfn.Deployer {
	t.Helper()
	cfg, err := e.clients.ForTarget(t.Context(), account, region)
	if err != nil {
		t.Fatal(err)
	}
	return cfn.NewDeployer(cfg, opts)
}

// reads counts the CloudFormation read calls made in account and region.
func (e *sandboxEnv) reads(account, region string) int64 {
	var n int64
	for _, c := range e.sb.Counters() {
		if c.Service == "cloudformation" && c.Account == account && c.Region == region && !c.Write {
			n += c.Calls
		}
	}
	return n
}

func (e *sandboxEnv) calls(action string) int64 {
	return e.sb.Counters().Calls("cloudformation", action)
}

const sbTemplateV1 = `
Parameters:
  Env: {Type: String, Default: dev}
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /app/${AWS::StackName}/env
      Type: String
      Value: !Ref Env
Outputs:
  ParamName: {Value: !Ref Param}
`

const sbTemplateV2 = `
Parameters:
  Env: {Type: String, Default: dev}
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /app/${AWS::StackName}/env
      Type: String
      Value: !Ref Env
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
Outputs:
  ParamName: {Value: !Ref Param}
  TopicArn: {Value: !Ref Topic}
`

func TestSandboxDeployLifecycle(t *testing.T) {
	e := startSandbox(t, sandbox.Options{Accounts: 1, Seed: 3, ResourceDelay: 50 * time.Millisecond})
	member, region := e.sb.Org().Members()[0].ID, e.sb.Regions()[0]
	d := e.deployer(t, member, region, cfn.DeployerOptions{PollInitial: 50 * time.Millisecond, PollMax: time.Second})
	ctx := t.Context()
	v1 := cfn.DeployInput{StackName: "app", TemplateBody: []byte(sbTemplateV1), Parameters: map[string]string{"Env": "prod"}, ClientToken: "op-1"}

	var events []string
	st, err := d.Deploy(ctx, v1, func(ev cfn.ResourceEvent) { events = append(events, ev.LogicalID+" "+ev.Status) })
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if st.Status != "CREATE_COMPLETE" || st.Outputs["ParamName"] != "/app/app/env" || st.Parameters["Env"] != "prod" {
		t.Errorf("created stack = %+v", st)
	}
	if len(events) == 0 || events[0] != "app CREATE_IN_PROGRESS" || events[len(events)-1] != "app CREATE_COMPLETE" || !slices.Contains(events, "Param CREATE_COMPLETE") {
		t.Errorf("create progress = %q", events)
	}
	if n := e.reads(member, region); n > 10 {
		t.Errorf("create made %d read calls, want at most 10", n)
	}

	// Unchanged: no change set.
	changeSets := e.calls("CreateChangeSet")
	if st, err := d.Deploy(ctx, cfn.DeployInput{StackName: "app", TemplateBody: []byte(sbTemplateV1), Parameters: map[string]string{"Env": "prod"}}, nil); err != nil || st.Status != "CREATE_COMPLETE" {
		t.Fatalf("unchanged deploy = %+v, %v", st, err)
	}
	if n := e.calls("CreateChangeSet") - changeSets; n != 0 {
		t.Errorf("unchanged deploy created %d change sets", n)
	}

	v2 := cfn.DeployInput{StackName: "app", TemplateBody: []byte(sbTemplateV2), Parameters: map[string]string{"Env": "prod"}}
	changes, err := d.Preview(ctx, v2)
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	want := []fleet.ResourceChange{{Action: "Add", LogicalID: "Queue", Type: "AWS::SQS::Queue"}, {Action: "Add", LogicalID: "Topic", Type: "AWS::SNS::Topic"}}
	slices.SortFunc(changes, func(a, b fleet.ResourceChange) int { return strings.Compare(a.LogicalID, b.LogicalID) })
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	before := e.reads(member, region)
	st, err = d.Deploy(ctx, v2, nil)
	if err != nil || st.Status != "UPDATE_COMPLETE" || st.Outputs["TopicArn"] == "" {
		t.Fatalf("update = %+v, %v", st, err)
	}
	if n := e.reads(member, region) - before; n > 10 {
		t.Errorf("update made %d read calls, want at most 10", n)
	}

	// A failing update reports the resource that failed, not the cancellations.
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, StackName: "app", LogicalID: "Param", Reason: "injected: parameter store is down"}); err != nil {
		t.Fatal(err)
	}
	v3 := v2
	v3.Parameters = map[string]string{"Env": "staging"}
	v3.ClientToken = "op-3"
	_, err = d.Deploy(ctx, v3, nil)
	de, ok := errors.AsType[*cfn.DeployError](err)
	if !ok || de.Status != "UPDATE_ROLLBACK_COMPLETE" || de.FirstFailure == nil || de.FirstFailure.LogicalID != "Param" ||
		de.FirstFailure.Reason != "injected: parameter store is down" {
		t.Fatalf("failing update = %v (%+v)", err, de)
	}
	// Resuming that operation reports the same failure without trying again.
	execs := e.calls("ExecuteChangeSet")
	_, err = d.Deploy(ctx, v3, nil)
	if de2, ok := errors.AsType[*cfn.DeployError](err); !ok || de2.FirstFailure == nil || de2.FirstFailure.LogicalID != "Param" {
		t.Errorf("resumed failed operation = %v", err)
	}
	if n := e.calls("ExecuteChangeSet") - execs; n != 0 {
		t.Errorf("resuming a failed operation executed %d change sets", n)
	}
	e.sb.ClearRules()

	if err := d.Delete(ctx, "app", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if st, err := d.Describe(ctx, "app"); err != nil || st.Exists {
		t.Errorf("after delete, Describe = %+v, %v", st, err)
	}
	if err := d.Delete(ctx, "app", nil); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

func TestSandboxFailedCreateIsReplaced(t *testing.T) {
	e := startSandbox(t, sandbox.Options{Accounts: 1, Seed: 4, ResourceDelay: 20 * time.Millisecond})
	member, region := e.sb.Org().Members()[0].ID, e.sb.Regions()[0]
	d := e.deployer(t, member, region, cfn.DeployerOptions{PollInitial: 50 * time.Millisecond, PollMax: time.Second})
	rule, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, StackName: "svc", LogicalID: "Topic", Reason: "injected"})
	if err != nil {
		t.Fatal(err)
	}
	in := cfn.DeployInput{StackName: "svc", TemplateBody: []byte(sbTemplateV2)}
	_, err = d.Deploy(t.Context(), in, nil)
	de, ok := errors.AsType[*cfn.DeployError](err)
	if !ok || de.Status != "ROLLBACK_COMPLETE" || de.FirstFailure == nil || de.FirstFailure.LogicalID != "Topic" {
		t.Fatalf("failing create = %v", err)
	}
	if changes, err := d.Preview(t.Context(), in); err != nil || len(changes) != 3 {
		t.Errorf("preview of a ROLLBACK_COMPLETE stack = %v, %v; want its 3 resources added", changes, err)
	}
	e.sb.RemoveRule(rule.ID)
	st, err := d.Deploy(t.Context(), in, nil)
	if err != nil || st.Status != "CREATE_COMPLETE" {
		t.Fatalf("deploy after a failed create = %+v, %v", st, err)
	}
	if n := e.calls("DeleteStack"); n != 1 {
		t.Errorf("DeleteStack calls = %d, want 1", n)
	}
}

// TestSandboxFleet deploys one stack to every (member, region) at once through the execution
// role, with a simulated 500 ms per stack and polling scaled down by ten from the defaults, and
// checks promptness and reads per instance against the sandbox's own counters.
func TestSandboxFleet(t *testing.T) {
	e := startSandbox(t, sandbox.Options{Accounts: 4, Seed: 5, ResourceDelay: 250 * time.Millisecond})
	regions := e.sb.Regions()[:3]
	timing := cfn.NewTiming()
	opts := cfn.DeployerOptions{PollInitial: 50 * time.Millisecond, PollMax: time.Second, Timing: timing}
	// Two resources at 250 ms each: 500 ms a stack. The second wave learns from the first.
	in := cfn.DeployInput{TemplateBody: []byte(`
Resources:
  A: {Type: AWS::SSM::Parameter, Properties: {Name: !Sub "/fleet/${AWS::StackName}/a", Type: String, Value: a}}
  B: {Type: AWS::SSM::Parameter, Properties: {Name: !Sub "/fleet/${AWS::StackName}/b", Type: String, Value: b}}
`)}
	type target struct{ account, region string }
	var targets []target
	for _, m := range e.sb.Org().Members() {
		for _, r := range regions {
			targets = append(targets, target{m.ID, r})
		}
	}
	for wave := range 2 {
		in.StackName = fmt.Sprintf("fleet-%d", wave)
		start := time.Now()
		var wg sync.WaitGroup
		for _, tg := range targets {
			wg.Go(func() {
				d := e.deployer(t, tg.account, tg.region, opts)
				if _, err := d.Deploy(t.Context(), in, nil); err != nil {
					t.Errorf("%s/%s: %v", tg.account, tg.region, err)
				}
			})
		}
		wg.Wait()
		t.Logf("wave %d of %d instances: %v", wave, len(targets), time.Since(start))
	}
	var reads []int64
	for _, tg := range targets {
		n := e.reads(tg.account, tg.region)
		reads = append(reads, n)
		if n > 20 {
			t.Errorf("%s/%s: %d read calls for two deployments, want at most 10 each", tg.account, tg.region, n)
		}
	}
	t.Logf("read calls per target for both waves: %v", reads)
	if est, ok := timing.Estimate("create"); !ok || est < 400*time.Millisecond || est > 700*time.Millisecond {
		t.Errorf("learned create time %v, %v; want about 500ms", est, ok)
	}
}

// DetectDrift names the drifted resource and property; a RevertDrift deploy of the unchanged
// template writes the template's value back, and the stack is in sync again.
func TestSandboxDetectAndRevertDrift(t *testing.T) {
	e := startSandbox(t, sandbox.Options{Accounts: 1, Seed: 5})
	member, region := e.sb.Org().Members()[0].ID, e.sb.Regions()[0]
	d := e.deployer(t, member, region, cfn.DeployerOptions{PollInitial: 10 * time.Millisecond, PollMax: 100 * time.Millisecond})
	ctx := t.Context()
	in := cfn.DeployInput{StackName: "app", TemplateBody: []byte(sbTemplateV1), Parameters: map[string]string{"Env": "prod"}}
	if _, err := d.Deploy(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := d.DetectDrift(ctx, "app"); err != nil || got.Status != fleet.InSync {
		t.Fatalf("DetectDrift before any drift = %+v, %v", got, err)
	}
	if err := e.sb.Drift(member, region, "app", "Param", map[string]any{"Value": "hacked"}); err != nil {
		t.Fatal(err)
	}
	got, err := d.DetectDrift(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.StackDrift{Status: fleet.Drifted, Resources: []fleet.ResourceDrift{{LogicalID: "Param", Type: "AWS::SSM::Parameter", Status: "MODIFIED",
		Differences: []fleet.PropertyDrift{{Path: "/Value", Expected: "prod", Actual: "hacked", Type: "NOT_EQUAL"}}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DetectDrift (-want +got):\n%s", diff)
	}
	// An ordinary deploy of the same template changes nothing; a reverting one repairs it.
	if _, err := d.Deploy(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.DetectDrift(ctx, "app"); got.Status != fleet.Drifted {
		t.Errorf("after an ordinary deploy: %s, want still DRIFTED", got.Status)
	}
	in.RevertDrift = true
	if _, err := d.Deploy(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.DetectDrift(ctx, "app"); got.Status != fleet.InSync {
		t.Errorf("after a reverting deploy: %+v, want IN_SYNC", got)
	}
}
