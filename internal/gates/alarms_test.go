package gates_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

const region = "us-east-1"

// alarmEnv is a started sandbox with two member accounts and the gate reading it.
type alarmEnv struct {
	sb       *sandbox.Sandbox
	mgmt     aws.Config
	members  []string
	gate     *gates.Alarms
	configFn func(ctx context.Context, account, region string) (aws.Config, error)
	// describes counts DescribeAlarms operations (not attempts: retries are not counted).
	describes atomic.Int64
}

func newAlarmEnv(t *testing.T) *alarmEnv {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	sb, err := sandbox.New(sandbox.Options{Accounts: 2, Regions: []string{region}})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c := sb.ManagementCredentials()
	e := &alarmEnv{sb: sb, mgmt: aws.Config{
		Region:       c.Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		// Retries are needed even against a local server: aws-sdk-go-v2 closes the request
		// body when the response arrives, which races with net/http's final read of it and
		// now and then breaks the connection under a response being read ("use of closed
		// network connection"; aws/aws-sdk-go-v2#2737). The standard retryer retries that.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 10 * time.Millisecond
			})
		},
	}}
	for _, a := range sb.Org().Accounts {
		if !a.Management {
			e.members = append(e.members, a.ID)
		}
	}
	if len(e.members) != 2 {
		t.Fatalf("members = %v, want 2", e.members)
	}
	// The caller's part: a configuration acting in the target account through the
	// organization's access role.
	e.configFn = func(ctx context.Context, account, region string) (aws.Config, error) {
		cfg := e.mgmt.Copy()
		cfg.Region = region
		cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countDescribes", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == "DescribeAlarms" {
					e.describes.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(e.mgmt),
			"arn:aws:iam::"+account+":role/OrganizationAccountAccessRole"))
		return cfg, nil
	}
	e.gate = &gates.Alarms{Config: e.configFn}
	return e
}

// put creates metric alarms in account (they start in INSUFFICIENT_DATA).
func (e *alarmEnv) put(t *testing.T, account string, names ...string) {
	t.Helper()
	cfg, err := e.configFn(context.Background(), account, region)
	if err != nil {
		t.Fatal(err)
	}
	cw := cloudwatch.NewFromConfig(cfg)
	for _, name := range names {
		if _, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(name), Namespace: aws.String("App"), MetricName: aws.String("Errors"),
			Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
			Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold,
		}); err != nil {
			t.Fatalf("PutMetricAlarm %s in %s: %v", name, account, err)
		}
	}
}

// set sets the state of alarms in account.
func (e *alarmEnv) set(t *testing.T, account, state string, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := e.sb.SetAlarmState(account, region, name, state, "Threshold Crossed: 1 datapoint [5.0] was >= 1.0"); err != nil {
			t.Fatalf("SetAlarmState %s %s: %v", name, state, err)
		}
	}
}

func (e *alarmEnv) target(account string) fleet.GateTarget {
	return fleet.GateTarget{Account: account, Region: region, Stack: "web", Outputs: map[string]string{"Service": "checkout"}}
}

// step is one check in a sequence: set states, then check.
type step struct {
	name       string
	set        map[string][]string // state → alarm names
	spec       fleet.AlarmSpec
	wantOK     bool
	wantReason string
}

func (e *alarmEnv) run(t *testing.T, account string, steps []step) {
	t.Helper()
	for _, s := range steps {
		for state, names := range s.set {
			e.set(t, account, state, names...)
		}
		got := e.gate.Check(context.Background(), s.spec, e.target(account))
		if diff := cmp.Diff(gates.Result{OK: s.wantOK, Reason: s.wantReason}, got); diff != "" {
			t.Errorf("%s: Check (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestAlarmsStates(t *testing.T) {
	e := newAlarmEnv(t)
	a, b := e.members[0], e.members[1]
	where := a + "/" + region
	e.put(t, a, "web-5xx", "checkout-latency")
	e.put(t, b, "web-5xx")
	e.set(t, b, "ALARM", "web-5xx") // another account's alarm of the same name does not count
	spec := fleet.AlarmSpec{Names: []string{"{{.Stack}}-5xx", "{{.Outputs.Service}}-latency"}}
	strict := spec
	strict.InsufficientDataFails = true
	e.run(t, a, []step{
		{name: "new alarms have insufficient data, ignored", spec: spec, wantOK: true, wantReason: "2 alarms checked in " + where + ", none failing"},
		{name: "insufficient data fails when asked", spec: strict,
			wantReason: "alarm checkout-latency in " + where + " is INSUFFICIENT_DATA: Unchecked: Initial alarm creation (1 more failing: web-5xx)"},
		{name: "OK", set: map[string][]string{"OK": {"web-5xx", "checkout-latency"}}, spec: strict, wantOK: true,
			wantReason: "2 alarms checked in " + where + ", none failing"},
		{name: "ALARM", set: map[string][]string{"ALARM": {"web-5xx"}}, spec: spec,
			wantReason: "alarm web-5xx in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0"},
		{name: "back to OK", set: map[string][]string{"OK": {"web-5xx"}}, spec: spec, wantOK: true,
			wantReason: "2 alarms checked in " + where + ", none failing"},
		{name: "by ARN", set: map[string][]string{"ALARM": {"checkout-latency"}},
			spec:       fleet.AlarmSpec{ARNs: []string{"arn:aws:cloudwatch:{{.Region}}:{{.Account}}:alarm:{{.Outputs.Service}}-latency"}},
			wantReason: "alarm checkout-latency in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0"},
	})
	if got := e.gate.Check(context.Background(), spec, e.target(b)); got.OK || !strings.HasPrefix(got.Reason, "alarm web-5xx in "+b+"/") {
		t.Errorf("account %s, where web-5xx is in ALARM: Check = %+v", b, got)
	}
}

func TestAlarmsPrefixes(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	where := a + "/" + region
	var many []string
	for i := range 230 { // more than two pages of 100
		many = append(many, fmt.Sprintf("web-%03d", i))
	}
	e.put(t, a, many...)
	e.put(t, a, "api-errors")
	e.set(t, a, "OK", many...)
	spec := fleet.AlarmSpec{Prefixes: []string{"{{.Stack}}-"}}
	e.describes.Store(0)
	e.run(t, a, []step{
		{name: "all OK", set: map[string][]string{"ALARM": {"api-errors"}}, spec: spec, wantOK: true,
			wantReason: "230 alarms checked in " + where + ", none failing"},
		{name: "last page alarm", set: map[string][]string{"ALARM": {"web-229", "web-007"}}, spec: spec,
			wantReason: "alarm web-007 in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0 (1 more failing: web-229)"},
		{name: "two prefixes", spec: fleet.AlarmSpec{Prefixes: []string{"web-00", "api-"}},
			wantReason: "alarm api-errors in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0 (1 more failing: web-007)"},
		{name: "prefix matching nothing", spec: fleet.AlarmSpec{Prefixes: []string{"nothing-"}, MissingFails: true}, wantOK: true,
			wantReason: "0 alarms checked in " + where + ", none failing"},
	})
	// 3 pages for each of the first two checks, then one call per prefix.
	if got, want := e.describes.Load(), int64(3+3+2+1); got != want {
		t.Errorf("DescribeAlarms calls = %d, want %d", got, want)
	}
}

func TestAlarmsMissing(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	where := a + "/" + region
	e.put(t, a, "web-5xx")
	e.set(t, a, "OK", "web-5xx")
	names := []string{"web-5xx", "ghost", "{{.Outputs.Service}}-gone"}
	e.run(t, a, []step{
		{name: "missing ignored", spec: fleet.AlarmSpec{Names: names}, wantOK: true,
			wantReason: "1 alarm checked in " + where + ", none failing"},
		{name: "missing fails", spec: fleet.AlarmSpec{Names: names, MissingFails: true},
			wantReason: "2 alarms do not exist in " + where + ": ghost, checkout-gone"},
		{name: "one missing by ARN", spec: fleet.AlarmSpec{ARNs: []string{"arn:aws:cloudwatch:" + region + ":" + a + ":alarm:ghost"}, MissingFails: true},
			wantReason: "alarm ghost does not exist in " + where},
		{name: "missing listed after failing", set: map[string][]string{"ALARM": {"web-5xx"}}, spec: fleet.AlarmSpec{Names: names, MissingFails: true},
			wantReason: "alarm web-5xx in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0 (2 more failing: ghost (missing), checkout-gone (missing))"},
	})
}

func TestAlarmsManyNames(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	where := a + "/" + region
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("alarm-%03d", i))
	}
	e.put(t, a, names...)
	e.set(t, a, "OK", names...)
	spec := fleet.AlarmSpec{Names: append(names, names[0]), MissingFails: true} // duplicates are read once
	e.describes.Store(0)
	e.run(t, a, []step{
		{name: "150 OK", spec: spec, wantOK: true, wantReason: "150 alarms checked in " + where + ", none failing"},
		{name: "alarm in the second call", set: map[string][]string{"ALARM": {"alarm-149"}}, spec: spec,
			wantReason: "alarm alarm-149 in " + where + " is ALARM: Threshold Crossed: 1 datapoint [5.0] was >= 1.0"},
	})
	if got, want := e.describes.Load(), int64(2*2); got != want {
		t.Errorf("DescribeAlarms calls = %d, want %d", got, want)
	}
}

func TestAlarmsComposite(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	e.put(t, a, "web-5xx")
	e.set(t, a, "OK", "web-5xx")
	cfg, _ := e.configFn(context.Background(), a, region)
	if _, err := cloudwatch.NewFromConfig(cfg).PutCompositeAlarm(context.Background(), &cloudwatch.PutCompositeAlarmInput{
		AlarmName: aws.String("web-health"), AlarmRule: aws.String(`ALARM("web-5xx")`),
	}); err != nil {
		t.Fatalf("PutCompositeAlarm: %v", err)
	}
	spec := fleet.AlarmSpec{Names: []string{"web-health"}, MissingFails: true, InsufficientDataFails: true}
	e.set(t, a, "OK", "web-health")
	if got := e.gate.Check(context.Background(), spec, e.target(a)); !got.OK {
		t.Errorf("composite OK: %+v", got)
	}
	e.set(t, a, "ALARM", "web-health")
	if got := e.gate.Check(context.Background(), spec, e.target(a)); got.OK || !strings.HasPrefix(got.Reason, "alarm web-health in ") {
		t.Errorf("composite in ALARM: %+v", got)
	}
}

func TestAlarmsErrors(t *testing.T) {
	e := newAlarmEnv(t)
	a, b := e.members[0], e.members[1]
	where := a + "/" + region
	e.put(t, a, "web-5xx")
	tests := []struct {
		name       string
		gate       *gates.Alarms
		spec       fleet.AlarmSpec
		rule       *sandbox.Rule
		wantOK     bool
		wantReason string
		// unreadable: an API or credentials error, not a verdict on the deploy
		unreadable bool
	}{
		{name: "nothing to check", gate: e.gate, wantOK: true, wantReason: "no alarms to check in " + where},
		{name: "unknown output", gate: e.gate, spec: fleet.AlarmSpec{Names: []string{"{{.Outputs.Nope}}"}},
			wantReason: "alarms in " + where + `: alarm name: template "{{.Outputs.Nope}}": unknown stack output "Nope" (stack outputs: Empty, Service)`},
		{name: "empty prefix", gate: e.gate, spec: fleet.AlarmSpec{Prefixes: []string{"{{.Outputs.Empty}}"}},
			wantReason: "alarms in " + where + `: alarm prefix: template "{{.Outputs.Empty}}" expands to an empty string`},
		{name: "ARN of another account", gate: e.gate, spec: fleet.AlarmSpec{ARNs: []string{"arn:aws:cloudwatch:" + region + ":" + b + ":alarm:web-5xx"}},
			wantReason: "alarms in " + where + `: alarm ARN "arn:aws:cloudwatch:` + region + ":" + b + `:alarm:web-5xx" is in ` + b + "/" + region + ", not in the target's " + where},
		{name: "ARN of another region", gate: e.gate, spec: fleet.AlarmSpec{ARNs: []string{"arn:aws:cloudwatch:eu-west-1:" + a + ":alarm:web-5xx"}},
			wantReason: "alarms in " + where + `: alarm ARN "arn:aws:cloudwatch:eu-west-1:` + a + `:alarm:web-5xx" is in ` + a + "/eu-west-1, not in the target's " + where},
		{name: "not an alarm ARN", gate: e.gate, spec: fleet.AlarmSpec{ARNs: []string{"arn:aws:sns:" + region + ":" + a + ":topic"}},
			wantReason: "alarms in " + where + `: "arn:aws:sns:` + region + ":" + a + `:topic" is not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)`},
		{name: "no config", gate: &gates.Alarms{}, spec: fleet.AlarmSpec{Names: []string{"web-5xx"}},
			wantReason: "alarms in " + where + ": no AWS configuration"},
		{name: "config error", spec: fleet.AlarmSpec{Names: []string{"web-5xx"}},
			gate: &gates.Alarms{Config: func(context.Context, string, string) (aws.Config, error) {
				return aws.Config{}, errors.New("assume role: AccessDenied")
			}},
			wantReason: "alarms in " + where + ": get credentials: assume role: AccessDenied", unreadable: true},
		{name: "unknown key", spec: fleet.AlarmSpec{Names: []string{"web-5xx"}},
			gate: &gates.Alarms{Config: func(context.Context, string, string) (aws.Config, error) {
				cfg := e.mgmt.Copy()
				cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWNUNKNOWN00", "x", "")
				return cfg, nil
			}},
			wantReason: "alarms in " + where + ": describe alarms: UnrecognizedClientException: The security token included in the request is invalid.", unreadable: true},
		{name: "server error", gate: e.gate, spec: fleet.AlarmSpec{Prefixes: []string{"web-"}},
			rule:       &sandbox.Rule{Kind: sandbox.RuleServerError, Service: "monitoring", Action: "DescribeAlarms", Status: 503, Reason: "try later"},
			wantReason: "alarms in " + where + `: describe alarms with prefix "web-": ServiceUnavailable: try later`, unreadable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rule != nil {
				r, err := e.sb.AddRule(*tt.rule)
				if err != nil {
					t.Fatalf("AddRule: %v", err)
				}
				defer e.sb.RemoveRule(r.ID)
			}
			tg := e.target(a)
			tg.Outputs["Empty"] = ""
			got := tt.gate.Check(context.Background(), tt.spec, tg)
			if diff := cmp.Diff(gates.Result{OK: tt.wantOK, Unreadable: tt.unreadable, Reason: tt.wantReason}, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAlarmsCanceled(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleDelay, Service: "monitoring", Action: "DescribeAlarms", Delay: time.Minute}); err != nil {
		t.Fatalf("AddRule: %v", err)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, errors.New("release aborted"))
	defer cancel()
	got := e.gate.Check(ctx, fleet.AlarmSpec{Names: []string{"web-5xx"}}, e.target(a))
	if diff := cmp.Diff(gates.Result{Unreadable: true, Reason: "alarms in " + a + "/" + region + ": interrupted: release aborted"}, got); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
}
