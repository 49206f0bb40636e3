package sandbox_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// appTemplate has five resources: an SSM parameter and an alarm visible through their
// services, plus a queue, a topic and a log group.
const appTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env:
    Type: String
    Default: dev
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /app/${AWS::StackName}/env
      Type: String
      Value: !Ref Env
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Logs:
    Type: AWS::Logs::LogGroup
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-errors
      ComparisonOperator: GreaterThanThreshold
      EvaluationPeriods: 1
      MetricName: Errors
      Namespace: App
      Period: 60
      Statistic: Sum
      Threshold: 1
      AlarmActions: [!Ref Topic]
Outputs:
  Env:
    Value: !Ref Env
  ParamName:
    Value: !Ref Param
  QueueUrl:
    Value: !Ref Queue
`

// roleTemplate creates a named role trusting the principal given as parameter.
const roleTemplate = `Parameters:
  Trusted:
    Type: String
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: app-deployer
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Ref Trusted}
            Action: sts:AssumeRole
Outputs:
  RoleArn:
    Value: !GetAtt Role.Arn
`

const (
	waitMin = 5 * time.Millisecond
	waitMax = 50 * time.Millisecond
	waitFor = 30 * time.Second
)

func envParam(v string) []cfntypes.Parameter {
	return []cfntypes.Parameter{{ParameterKey: aws.String("Env"), ParameterValue: aws.String(v)}}
}

func outputs(t *testing.T, c *cloudformation.Client, stack string) map[string]string {
	t.Helper()
	out, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: &stack})
	if err != nil {
		t.Fatalf("DescribeStacks %s: %v", stack, err)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[*o.OutputKey] = *o.OutputValue
	}
	return m
}

func createApp(t *testing.T, c *cloudformation.Client, stack, env string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: &stack, TemplateBody: aws.String(appTemplate), Parameters: envParam(env),
	}); err != nil {
		t.Fatalf("CreateStack %s: %v", stack, err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, waitFor); err != nil {
		t.Fatalf("waiting for %s: %v", stack, err)
	}
}

func TestStackLifecycleWaiters(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 1, ResourceDelay: 2 * time.Millisecond})
	ctx := context.Background()
	cfg := e.member(t, e.sb.Org().Members()[0].ID)
	c := cloudformation.NewFromConfig(cfg)
	params := ssm.NewFromConfig(cfg)
	stack := "app"

	createApp(t, c, stack, "dev")
	if got := outputs(t, c, stack); got["Env"] != "dev" || got["ParamName"] != "/app/app/env" {
		t.Errorf("outputs after create: %v", got)
	}

	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{
		StackName: &stack, UsePreviousTemplate: aws.Bool(true), Parameters: envParam("prod"),
	}); err != nil {
		t.Fatal(err)
	}
	uw := cloudformation.NewStackUpdateCompleteWaiter(c, func(o *cloudformation.StackUpdateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := uw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, waitFor); err != nil {
		t.Fatal(err)
	}
	p, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/app/env")})
	if err != nil || *p.Parameter.Value != "prod" {
		t.Fatalf("parameter after update: %+v, %v", p, err)
	}

	cs, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName: &stack, ChangeSetName: aws.String("to-staging"), UsePreviousTemplate: aws.Bool(true),
		Parameters: envParam("staging"),
	})
	if err != nil {
		t.Fatal(err)
	}
	cw := cloudformation.NewChangeSetCreateCompleteWaiter(c, func(o *cloudformation.ChangeSetCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := cw.Wait(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: cs.Id}, waitFor); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
		t.Fatal(err)
	}
	if err := uw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, waitFor); err != nil {
		t.Fatal(err)
	}
	if got := outputs(t, c, stack)["Env"]; got != "staging" {
		t.Errorf("Env after change set = %q", got)
	}

	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: &stack}); err != nil {
		t.Fatal(err)
	}
	dw := cloudformation.NewStackDeleteCompleteWaiter(c, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := dw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, waitFor); err != nil {
		t.Fatal(err)
	}
	if _, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/app/env")}); errCode(err) != "ParameterNotFound" {
		t.Errorf("parameter after delete: %v", err)
	}
	alarms, err := cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
	if err != nil || len(alarms.MetricAlarms) != 0 {
		t.Errorf("alarms after delete: %+v, %v", alarms, err)
	}
}

func TestStackPaginators(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 1})
	ctx := context.Background()
	c := cloudformation.NewFromConfig(e.cfg)
	const n = 130
	var want []string
	for i := range n {
		name := fmt.Sprintf("s%03d", i)
		want = append(want, name)
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName:    &name,
			TemplateBody: aws.String(`{"Resources":{"H":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	pages := 0
	p := cloudformation.NewDescribeStacksPaginator(c, &cloudformation.DescribeStacksInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Stacks {
			got = append(got, *s.StackName)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeStacks paginator (-want +got):\n%s", diff)
	}
	if pages < 2 {
		t.Errorf("DescribeStacks returned %d stacks in %d page(s); AWS pages by 100", n, pages)
	}
	got = nil
	lp := cloudformation.NewListStacksPaginator(c, &cloudformation.ListStacksInput{})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.StackSummaries {
			got = append(got, *s.StackName)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListStacks paginator (-want +got):\n%s", diff)
	}
}

func TestSameStackAcrossAccountsAndRegions(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 3, Regions: []string{"us-east-1", "eu-west-1"}})
	ctx := context.Background()
	type scope struct{ account, region string }
	var scopes []scope
	cfgs := map[scope]aws.Config{}
	for _, m := range e.sb.Org().Members() {
		base := e.member(t, m.ID)
		for _, r := range e.sb.Regions() {
			s := scope{m.ID, r}
			scopes = append(scopes, s)
			cfgs[s] = withRegion(base, r)
		}
	}
	var wg sync.WaitGroup
	for _, s := range scopes {
		wg.Go(func() {
			createApp(t, cloudformation.NewFromConfig(cfgs[s]), "app", s.account+"-"+s.region)
		})
	}
	wg.Wait()
	for _, s := range scopes {
		cfg := cfgs[s]
		want := s.account + "-" + s.region
		if got := outputs(t, cloudformation.NewFromConfig(cfg), "app")["Env"]; got != want {
			t.Errorf("%v: output Env = %q, want %q", s, got, want)
		}
		p, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/app/env")})
		if err != nil || *p.Parameter.Value != want {
			t.Errorf("%v: parameter %+v, %v; want value %q", s, p, err, want)
		}
		alarms, err := cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range alarms.MetricAlarms {
			names = append(names, *a.AlarmName)
			if !strings.HasPrefix(*a.AlarmArn, "arn:aws:cloudwatch:"+s.region+":"+s.account+":alarm:") {
				t.Errorf("%v: alarm ARN %s", s, *a.AlarmArn)
			}
		}
		if diff := cmp.Diff([]string{"app-errors"}, names); diff != "" {
			t.Errorf("%v: alarms (-want +got):\n%s", s, diff)
		}
	}
	// Deleting one copy leaves the others.
	first := cloudformation.NewFromConfig(cfgs[scopes[0]])
	if _, err := first.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	dw := cloudformation.NewStackDeleteCompleteWaiter(first, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := dw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("app")}, waitFor); err != nil {
		t.Fatal(err)
	}
	for _, s := range scopes[1:] {
		if got := outputs(t, cloudformation.NewFromConfig(cfgs[s]), "app")["Env"]; got == "" {
			t.Errorf("%v: stack gone after deleting it in %v", s, scopes[0])
		}
	}

	// The admin API sets an alarm's state; DescribeAlarms shows it.
	s := scopes[1]
	if err := e.sb.SetAlarmState(s.account, s.region, "app-errors", "ALARM", "test breach"); err != nil {
		t.Fatal(err)
	}
	alarms, err := cloudwatch.NewFromConfig(cfgs[s]).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm})
	if err != nil || len(alarms.MetricAlarms) != 1 || *alarms.MetricAlarms[0].StateReason != "test breach" {
		t.Errorf("alarms in ALARM: %+v, %v", alarms, err)
	}
}

// events returns "Logical STATUS reason" for the stack's events, oldest first.
func events(t *testing.T, c *cloudformation.Client, stack string) []cfntypes.StackEvent {
	t.Helper()
	var all []cfntypes.StackEvent
	p := cloudformation.NewDescribeStackEventsPaginator(c, &cloudformation.DescribeStackEventsInput{StackName: &stack})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.StackEvents...)
	}
	slices.Reverse(all)
	return all
}

func findEvent(evs []cfntypes.StackEvent, logical string, status cfntypes.ResourceStatus) *cfntypes.StackEvent {
	for i := range evs {
		if aws.ToString(evs[i].LogicalResourceId) == logical && evs[i].ResourceStatus == status {
			return &evs[i]
		}
	}
	return nil
}

func stackStatus(t *testing.T, c *cloudformation.Client, stack string) cfntypes.StackStatus {
	t.Helper()
	out, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: &stack})
	if err != nil {
		t.Fatal(err)
	}
	return out.Stacks[0].StackStatus
}

func TestResourceFailureRules(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 1})
	ctx := context.Background()
	member := e.sb.Org().Members()[0].ID
	c := cloudformation.NewFromConfig(e.member(t, member))

	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, Account: member, StackName: "broken",
		ResourceType: "AWS::SNS::Topic", Reason: "Topic quota exceeded (injected)"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("broken"), TemplateBody: aws.String(appTemplate)}); err != nil {
		t.Fatal(err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("broken")}, waitFor); err == nil {
		t.Fatal("create waiter succeeded on a failing stack")
	}
	if got := stackStatus(t, c, "broken"); got != cfntypes.StackStatusRollbackComplete {
		t.Errorf("status %s, want ROLLBACK_COMPLETE", got)
	}
	ev := findEvent(events(t, c, "broken"), "Topic", cfntypes.ResourceStatusCreateFailed)
	if ev == nil || aws.ToString(ev.ResourceStatusReason) != "Topic quota exceeded (injected)" || aws.ToString(ev.ResourceType) != "AWS::SNS::Topic" {
		t.Errorf("CREATE_FAILED event for Topic: %+v", ev)
	}

	// An update failure rolls the update back.
	createApp(t, c, "good", "dev")
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, StackName: "good", LogicalID: "Param", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("good"), UsePreviousTemplate: aws.Bool(true), Parameters: envParam("prod")}); err != nil {
		t.Fatal(err)
	}
	uw := cloudformation.NewStackUpdateCompleteWaiter(c, func(o *cloudformation.StackUpdateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := uw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("good")}, waitFor); err == nil {
		t.Fatal("update waiter succeeded on a failing update")
	}
	if got := stackStatus(t, c, "good"); got != cfntypes.StackStatusUpdateRollbackComplete {
		t.Errorf("status %s, want UPDATE_ROLLBACK_COMPLETE", got)
	}
	ev = findEvent(events(t, c, "good"), "Param", cfntypes.ResourceStatusUpdateFailed)
	if ev == nil || !strings.Contains(aws.ToString(ev.ResourceStatusReason), "Injected failure") {
		t.Errorf("UPDATE_FAILED event for Param: %+v", ev)
	}
	if got := outputs(t, c, "good")["Env"]; got != "dev" {
		t.Errorf("Env after rollback = %q, want dev", got)
	}
}

func TestStackRoleAssumable(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 5})
	ctx := context.Background()
	v := e.sb.Org()
	member := v.Members()[0].ID
	c := cloudformation.NewFromConfig(e.member(t, member))
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("roles"), TemplateBody: aws.String(roleTemplate),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Parameters:   []cfntypes.Parameter{{ParameterKey: aws.String("Trusted"), ParameterValue: aws.String("arn:aws:iam::" + v.ManagementAccount + ":root")}},
	}); err != nil {
		t.Fatal(err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("roles")}, waitFor); err != nil {
		t.Fatal(err)
	}
	roleArn := outputs(t, c, "roles")["RoleArn"]
	if want := "arn:aws:iam::" + member + ":role/app-deployer"; roleArn != want {
		t.Errorf("RoleArn output %q, want %q", roleArn, want)
	}
	got, err := callerIdentity(t, e.assume(t, e.cfg, member, "app-deployer"))
	if err != nil || got.Arn != "arn:aws:sts::"+member+":assumed-role/app-deployer/test" {
		t.Errorf("identity through the stack's role: %+v, %v", got, err)
	}
	// The other member is not trusted.
	other := e.member(t, v.Members()[1].ID)
	_, err = sts.NewFromConfig(other).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &roleArn, RoleSessionName: aws.String("xx")})
	if errCode(err) != "AccessDenied" {
		t.Errorf("untrusted member: %v", err)
	}
	// Deleting the stack deletes the role.
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("roles")}); err != nil {
		t.Fatal(err)
	}
	dw := cloudformation.NewStackDeleteCompleteWaiter(c, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := dw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("roles")}, waitFor); err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &roleArn, RoleSessionName: aws.String("xx")}); errCode(err) != "AccessDenied" {
		t.Errorf("assuming a deleted role: %v", err)
	}
}

// detectDrift runs drift detection on a stack and returns its drift status.
func detectDrift(t *testing.T, c *cloudformation.Client, stack string) cfntypes.StackDriftStatus {
	t.Helper()
	ctx := context.Background()
	det, err := c.DetectStackDrift(ctx, &cloudformation.DetectStackDriftInput{StackName: aws.String(stack)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		st, err := c.DescribeStackDriftDetectionStatus(ctx, &cloudformation.DescribeStackDriftDetectionStatusInput{StackDriftDetectionId: det.StackDriftDetectionId})
		if err != nil {
			t.Fatal(err)
		}
		if st.DetectionStatus != cfntypes.StackDriftDetectionStatusDetectionInProgress {
			return st.StackDriftStatus
		}
		if time.Now().After(deadline) {
			t.Fatal("drift detection did not finish")
		}
		time.Sleep(waitMin) // poll interval
	}
}

// A change set with DeploymentMode REVERT_DRIFT writes the template's properties back over
// drifted resources, though the template is unchanged; an ordinary one has nothing to change.
func TestRevertDriftChangeSet(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 3})
	ctx := context.Background()
	member := e.sb.Org().Members()[0].ID
	c := cloudformation.NewFromConfig(e.member(t, member))
	createApp(t, c, "app", "dev")
	if err := e.sb.Drift(member, "us-east-1", "app", "Queue", map[string]any{"VisibilityTimeout": 99}); err != nil {
		t.Fatal(err)
	}
	if got := detectDrift(t, c, "app"); got != cfntypes.StackDriftStatusDrifted {
		t.Fatalf("drift status %s, want DRIFTED", got)
	}
	changeSet := func(name string, mode cfntypes.DeploymentMode) *cloudformation.DescribeChangeSetOutput {
		t.Helper()
		if _, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String(name),
			UsePreviousTemplate: aws.Bool(true), Parameters: envParam("dev"), DeploymentMode: mode}); err != nil {
			t.Fatal(err)
		}
		w := cloudformation.NewChangeSetCreateCompleteWaiter(c, func(o *cloudformation.ChangeSetCreateCompleteWaiterOptions) {
			o.MinDelay, o.MaxDelay = waitMin, waitMax
		})
		out, _ := w.WaitForOutput(ctx, &cloudformation.DescribeChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String(name)}, waitFor)
		if out == nil {
			out, _ = c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String(name)})
		}
		return out
	}
	if plain := changeSet("plain", ""); plain.Status != cfntypes.ChangeSetStatusFailed {
		t.Errorf("an ordinary change set over drift: %s, want FAILED (no changes)", plain.Status)
	}
	revert := changeSet("revert", cfntypes.DeploymentModeRevertDrift)
	if revert.Status != cfntypes.ChangeSetStatusCreateComplete || len(revert.Changes) != 1 || aws.ToString(revert.Changes[0].ResourceChange.LogicalResourceId) != "Queue" {
		t.Fatalf("revert change set: %s %+v, want one change to Queue", revert.Status, revert.Changes)
	}
	if _, err := c.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("revert")}); err != nil {
		t.Fatal(err)
	}
	uw := cloudformation.NewStackUpdateCompleteWaiter(c, func(o *cloudformation.StackUpdateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := uw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("app")}, waitFor); err != nil {
		t.Fatal(err)
	}
	if got := detectDrift(t, c, "app"); got != cfntypes.StackDriftStatusInSync {
		t.Errorf("drift status after the revert: %s, want IN_SYNC", got)
	}
	if _, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{StackName: aws.String("new"), ChangeSetName: aws.String("x"),
		TemplateBody: aws.String(appTemplate), ChangeSetType: cfntypes.ChangeSetTypeCreate, DeploymentMode: cfntypes.DeploymentModeRevertDrift}); err == nil {
		t.Error("REVERT_DRIFT was accepted for a CREATE change set")
	}
}

func TestDriftAndWriteCounters(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 2})
	ctx := context.Background()
	member := e.sb.Org().Members()[0].ID
	c := cloudformation.NewFromConfig(e.member(t, member))
	createApp(t, c, "app", "dev")

	e.sb.ResetCounters()
	if _, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListStacks(ctx, &cloudformation.ListStacksInput{}); err != nil {
		t.Fatal(err)
	}
	counts := e.sb.Counters()
	if w := counts.Writes("cloudformation"); w != 0 || counts.Calls("cloudformation", "") != 2 {
		t.Errorf("after reads: %d writes, %d calls; want 0 and 2", w, counts.Calls("cloudformation", ""))
	}

	if err := e.sb.Drift(member, "us-east-1", "app", "Queue", map[string]any{"VisibilityTimeout": 99}); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Drift(member, "us-east-1", "nope", "Queue", nil); err == nil {
		t.Error("drift of a missing stack succeeded")
	}
	det, err := c.DetectStackDrift(ctx, &cloudformation.DetectStackDriftInput{StackName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		st, err := c.DescribeStackDriftDetectionStatus(ctx, &cloudformation.DescribeStackDriftDetectionStatusInput{StackDriftDetectionId: det.StackDriftDetectionId})
		if err != nil {
			t.Fatal(err)
		}
		if st.DetectionStatus != cfntypes.StackDriftDetectionStatusDetectionInProgress {
			if st.StackDriftStatus != cfntypes.StackDriftStatusDrifted {
				t.Errorf("drift status %s, want DRIFTED", st.StackDriftStatus)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("drift detection did not finish")
		}
		time.Sleep(waitMin) // poll interval
	}
	if w := e.sb.Counters().Writes("cloudformation"); w != 0 {
		t.Errorf("drift detection counted %d writes", w)
	}
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if w := e.sb.Counters().Writes("cloudformation"); w != 1 {
		t.Errorf("after DeleteStack: %d writes, want 1", w)
	}
}

func TestPersistStacksAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, sandbox.Options{Accounts: 1, Seed: 4, DataDir: dir})
	member := e.sb.Org().Members()[0].ID
	cfg := e.member(t, member)
	createApp(t, cloudformation.NewFromConfig(cfg), "kept", "dev")
	before := e.sb.Org()
	if err := e.sb.Close(); err != nil {
		t.Fatal(err)
	}

	again := start(t, sandbox.Options{DataDir: dir})
	if diff := cmp.Diff(before, again.sb.Org()); diff != "" {
		t.Errorf("org after restart (-before +after):\n%s", diff)
	}
	cfg2 := again.member(t, member)
	c := cloudformation.NewFromConfig(cfg2)
	if got := stackStatus(t, c, "kept"); got != cfntypes.StackStatusCreateComplete {
		t.Errorf("stack status after restart: %s", got)
	}
	if got := outputs(t, c, "kept")["Env"]; got != "dev" {
		t.Errorf("outputs after restart: Env=%q", got)
	}
	p, err := ssm.NewFromConfig(cfg2).GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/app/kept/env")})
	if err != nil || *p.Parameter.Value != "dev" {
		t.Errorf("parameter after restart: %+v, %v", p, err)
	}
	alarms, err := cloudwatch.NewFromConfig(cfg2).DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{})
	if err != nil || len(alarms.MetricAlarms) != 1 {
		t.Errorf("alarms after restart: %+v, %v", alarms, err)
	}
	// The stack can still be deleted, which releases what it created.
	if _, err := c.DeleteStack(context.Background(), &cloudformation.DeleteStackInput{StackName: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
}

// A role whose trust policy names an account or a role that does not exist is refused, as IAM
// refuses it ("Invalid principal in policy"); one naming an existing role is created.
func TestRoleTrustingMissingPrincipal(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 6})
	ctx := context.Background()
	member := e.sb.Org().Members()[0].ID
	c := cloudformation.NewFromConfig(e.member(t, member))
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	for i, tt := range []struct{ trusted, want string }{
		{"arn:aws:iam::999999999999:root", "Invalid principal in policy: \"AWS\":\"arn:aws:iam::999999999999:root\""},
		{"arn:aws:iam::" + member + ":role/Nope", "Invalid principal in policy"},
		{"arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole", ""},
	} {
		name := fmt.Sprintf("trust%d", i)
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(strings.Replace(roleTemplate, "app-deployer", name, 1)),
			Parameters:   []cfntypes.Parameter{{ParameterKey: aws.String("Trusted"), ParameterValue: aws.String(tt.trusted)}},
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}}); err != nil {
			t.Fatal(err)
		}
		err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, waitFor)
		if tt.want == "" {
			if err != nil {
				t.Errorf("trusting %s: %v", tt.trusted, err)
			}
			continue
		}
		ev := findEvent(events(t, c, name), "Role", cfntypes.ResourceStatusCreateFailed)
		if err == nil || ev == nil || !strings.Contains(aws.ToString(ev.ResourceStatusReason), tt.want) {
			t.Errorf("trusting %s: waiter %v, reason %q; want CREATE_FAILED %q", tt.trusted, err, aws.ToString(ev.ResourceStatusReason), tt.want)
		}
	}
}
