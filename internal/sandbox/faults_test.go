package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

func TestThrottleRuleSDKRetries(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 1})
	ctx := context.Background()
	mgmt := e.sb.Org().ManagementAccount
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleThrottle, Service: "sts", Action: "GetCallerIdentity", Count: 2}); err != nil {
		t.Fatal(err)
	}
	// Two throttled attempts, then the retryer's third attempt succeeds.
	if _, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity with 2 throttles: %v", err)
	}
	c := e.sb.Counters()
	if got := []int64{c.Calls("sts", "GetCallerIdentity"), c.Throttled("sts", "GetCallerIdentity")}; got[0] != 3 || got[1] != 2 {
		t.Errorf("calls, throttled = %v, want [3 2]", got)
	}
	for _, x := range c {
		if x.Service == "sts" && (x.Account != mgmt || x.Region != "us-east-1" || x.Write) {
			t.Errorf("counter %+v: want account %s, region us-east-1, read", x, mgmt)
		}
	}

	// An unlimited rule exhausts the retryer; the error code is the protocol's.
	e.sb.ClearRules()
	e.sb.ResetCounters()
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleThrottle}); err != nil {
		t.Fatal(err)
	}
	_, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "Throttling" {
		t.Errorf("query protocol: %v, want Throttling", err)
	}
	// Organizations words it its own way (TooManyRequestsException), which the SDK retries too.
	_, err = organizations.NewFromConfig(e.cfg).ListRoots(ctx, &organizations.ListRootsInput{})
	if errCode(err) != "TooManyRequestsException" {
		t.Errorf("Organizations: %v, want TooManyRequestsException", err)
	}
	// CloudWatch speaks Smithy RPC v2 CBOR to the SDK.
	_, err = cloudwatch.NewFromConfig(e.cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
	if errCode(err) != "ThrottlingException" {
		t.Errorf("CBOR protocol: %v, want ThrottlingException", err)
	}
	if got := e.sb.Counters().Throttled("", ""); got != 15 {
		t.Errorf("throttled = %d, want 15 (5 attempts each)", got)
	}
}

func TestServerErrorAndDelayRules(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 1})
	ctx := context.Background()
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleServerError, Service: "organizations", Count: 1, Status: 503}); err != nil {
		t.Fatal(err)
	}
	if _, err := organizations.NewFromConfig(e.cfg).ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
		t.Fatalf("ListRoots after one 503: %v", err)
	}
	c := e.sb.Counters()
	if c.Calls("organizations", "ListRoots") != 2 || c[0].Faulted != 1 {
		t.Errorf("counters %+v, want 2 calls and 1 fault", c)
	}

	const delay = 150 * time.Millisecond
	if _, err := e.sb.AddRule(sandbox.Rule{Kind: sandbox.RuleDelay, Service: "sts", Delay: delay}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < delay {
		t.Errorf("delayed call took %v, want at least %v", took, delay)
	}
	rules := e.sb.Rules()
	if len(rules) != 2 || rules[0].Fired != 1 || rules[1].Fired != 1 {
		t.Errorf("rules %+v, want both fired once", rules)
	}
	if !e.sb.RemoveRule(rules[1].ID) || e.sb.RemoveRule(rules[1].ID) {
		t.Errorf("RemoveRule: want true then false")
	}
}
