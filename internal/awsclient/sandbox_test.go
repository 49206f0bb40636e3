package awsclient_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/orgs"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// startSandbox starts an in-process sandbox and returns clients for its management account.
func startSandbox(t *testing.T, opts sandbox.Options, copts awsclient.Options) (*sandbox.Sandbox, *awsclient.Clients) {
	t.Helper()
	isolate(t)
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	// Close the client's idle connections before the sandbox shuts down: a connection dialled
	// but never used would hold its graceful shutdown for 5 s.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	copts.HTTPClient = &http.Client{Transport: transport}
	creds := sb.ManagementCredentials()
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	copts.Endpoint, copts.Region = url, creds.Region
	c, err := awsclient.New(t.Context(), copts)
	if err != nil {
		t.Fatal(err)
	}
	return sb, c
}

func TestSandboxAssumeRole(t *testing.T) {
	sb, c := startSandbox(t, sandbox.Options{Accounts: 3, OUs: 1, Seed: 1}, awsclient.Options{})
	org := sb.Org()
	if got, err := callerAccount(t.Context(), c.Base()); err != nil || got != org.ManagementAccount {
		t.Fatalf("Base caller = %q, %v; want the management account %s", got, err, org.ManagementAccount)
	}
	var wg sync.WaitGroup
	for _, m := range org.Members() {
		for _, region := range sb.Regions()[:2] {
			for range 5 {
				wg.Go(func() {
					cfg, err := c.ForTarget(t.Context(), m.ID, region)
					if err != nil {
						t.Error(err)
						return
					}
					if got, err := callerAccount(t.Context(), cfg); err != nil || got != m.ID {
						t.Errorf("caller in %s/%s = %q, %v", m.ID, region, got, err)
					}
				})
			}
		}
	}
	wg.Wait()
	if got, want := sb.Counters().Calls("sts", "AssumeRole"), int64(len(org.Members())); got != want {
		t.Errorf("AssumeRole calls = %d, want one per member (%d)", got, want)
	}

	// An account outside the organization has no role to assume.
	_, err := c.ForTarget(t.Context(), "999999999999", sb.Regions()[0])
	ae, ok := errors.AsType[*awsclient.AssumeRoleError](err)
	if !ok || ae.Code != "AccessDenied" || ae.Message == "" {
		t.Errorf("ForTarget outside the organization = %v, want an AccessDenied AssumeRoleError with STS's message", err)
	}
}

func TestSandboxThrottlingIsAbsorbed(t *testing.T) {
	sb, c := startSandbox(t, sandbox.Options{Accounts: 1, Seed: 2}, awsclient.Options{RatePerSecond: 40, Burst: 10})
	member := sb.Org().Members()[0].ID
	region := sb.Regions()[0]
	// The sandbox allows 20 calls a second with a burst of 2: a burst of 5 is partly throttled.
	if _, err := sb.AddRule(sandbox.Rule{Kind: sandbox.RuleThrottle, Service: "cloudformation", Action: "DescribeStacks", RatePerSecond: 20, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ForTarget(t.Context(), member, region)
	if err != nil {
		t.Fatal(err)
	}
	client := cloudformation.NewFromConfig(cfg)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := client.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{}); err != nil {
				t.Errorf("DescribeStacks under throttling: %v", err)
			}
		})
	}
	wg.Wait()
	counts := sb.Counters()
	if counts.Throttled("cloudformation", "DescribeStacks") == 0 {
		t.Errorf("no call was throttled (%d calls): the test does not test retries", counts.Calls("cloudformation", "DescribeStacks"))
	}
}

// Organizations throttling at 10 calls a second (a burst of 3) while a 120-account organization
// is read at the default ceiling of 40: the adaptive retryer's client-side rate backs off and the
// read succeeds, with few calls throttled.
func TestSandboxOrganizationsPacingFollowsThrottling(t *testing.T) {
	sb, c := startSandbox(t, sandbox.Options{Accounts: 120, OUs: 4, Seed: 2}, awsclient.Options{})
	if _, err := sb.AddRule(sandbox.Rule{Kind: sandbox.RuleThrottle, Service: "organizations", RatePerSecond: 10, Burst: 3}); err != nil {
		t.Fatal(err)
	}
	inv, err := orgs.Read(t.Context(), c.Base(), orgs.ReadOptions{})
	if err != nil {
		t.Fatalf("reading the organization under throttling: %v", err)
	}
	if len(inv.Accounts) != 121 {
		t.Errorf("read %d accounts, want 121", len(inv.Accounts))
	}
	counts := sb.Counters()
	calls, throttled := counts.Calls("organizations", ""), counts.Throttled("organizations", "")
	// The SDK's standard retry mode (no client-side rate) gets about 45% of its calls throttled
	// here; the adaptive mode in use slows down after the first throttles.
	if throttled == 0 || throttled*4 > calls {
		t.Errorf("%d of %d Organizations calls throttled: want some (the rule works) and under a quarter (the client slows down)", throttled, calls)
	}
	t.Logf("%d calls, %d throttled", calls, throttled)
}
