package awsclient_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/awsclient"
)

// fakeSTS answers AssumeRole and GetCallerIdentity like STS's query protocol. Assumed
// credentials have the access key ASIA<account>, so GetCallerIdentity tells who called.
type fakeSTS struct {
	mu        sync.Mutex
	assumes   map[string]int // by role ARN
	inputs    []string       // "RoleArn ExternalId RoleSessionName" of each AssumeRole
	identity  int            // GetCallerIdentity calls, throttled ones included
	throttles int            // GetCallerIdentity calls still to throttle
	denied    string         // account whose role cannot be assumed
}

var credentialKey = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch r.Form.Get("Action") {
	case "AssumeRole":
		arn := r.Form.Get("RoleArn")
		f.assumes[arn]++
		f.inputs = append(f.inputs, strings.Join([]string{arn, r.Form.Get("ExternalId"), r.Form.Get("RoleSessionName")}, " "))
		account := strings.Split(arn, ":")[4]
		if account == f.denied {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::111111111111:user/admin is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, arn)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA%s</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>%s/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			account, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), arn)
	case "GetCallerIdentity":
		f.identity++
		if f.throttles > 0 {
			f.throttles--
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r3</RequestId></ErrorResponse>`)
			return
		}
		account := "111111111111"
		if m := credentialKey.FindStringSubmatch(r.Header.Get("Authorization")); m != nil && strings.HasPrefix(m[1], "ASIA") {
			account = strings.TrimPrefix(m[1], "ASIA")
		}
		fmt.Fprintf(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::%[1]s:assumed-role/x/s</Arn><UserId>AROA:s</UserId><Account>%[1]s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r4</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, account)
	case "DescribeStacks": // CloudFormation, to tell lanes of different services apart
		fmt.Fprint(w, `<DescribeStacksResponse><DescribeStacksResult><Stacks/></DescribeStacksResult><ResponseMetadata><RequestId>r5</RequestId></ResponseMetadata></DescribeStacksResponse>`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>`)
	}
}

// isolate keeps the developer's AWS configuration out of the test.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDMANAGEMENT",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               "",
	} {
		t.Setenv(k, v)
	}
}

func newClients(t *testing.T, f *fakeSTS, opts awsclient.Options) *awsclient.Clients {
	t.Helper()
	isolate(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	opts.Endpoint = srv.URL
	c, err := awsclient.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFakeSTS() *fakeSTS { return &fakeSTS{assumes: map[string]int{}} }

// snapshot returns the AssumeRole counts and inputs and the GetCallerIdentity count.
func (f *fakeSTS) snapshot() (map[string]int, []string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.assumes), slices.Clone(f.inputs), f.identity
}

func callerAccount(ctx context.Context, cfg aws.Config) (string, error) {
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Account), nil
}

func TestForTargetAssumesOncePerAccount(t *testing.T) {
	f := newFakeSTS()
	c := newClients(t, f, awsclient.Options{Region: "eu-west-1", ExternalID: "ext-1", RoleARNPattern: "arn:aws:iam::{account}:role/Exec"})
	accounts := []string{"222222222222", "333333333333", "444444444444"}
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	var wg sync.WaitGroup
	for range 10 {
		for _, a := range accounts {
			for _, r := range regions {
				wg.Go(func() {
					cfg, err := c.ForTarget(t.Context(), a, r)
					if err != nil {
						t.Error(err)
						return
					}
					if cfg.Region != r {
						t.Errorf("ForTarget(%s, %s).Region = %s", a, r, cfg.Region)
					}
					got, err := callerAccount(t.Context(), cfg)
					if err != nil || got != a {
						t.Errorf("caller of ForTarget(%s, %s) = %q, %v; want the assumed role's account", a, r, got, err)
					}
				})
			}
		}
	}
	wg.Wait()
	want := map[string]int{}
	for _, a := range accounts {
		want["arn:aws:iam::"+a+":role/Exec"] = 1
	}
	assumes, inputs, _ := f.snapshot()
	if diff := cmp.Diff(want, assumes); diff != "" {
		t.Errorf("AssumeRole calls by role (-want +got):\n%s", diff)
	}
	if got, want := inputs[0], "arn:aws:iam::"+strings.Split(inputs[0], ":")[4]+":role/Exec ext-1 stackfleet"; got != want {
		t.Errorf("AssumeRole input = %q, want %q", got, want)
	}
	// The management config is not the assumed role's.
	if got, err := callerAccount(t.Context(), c.Base()); err != nil || got != "111111111111" {
		t.Errorf("Base caller = %q, %v; want the management account", got, err)
	}
}

func TestForTargetAccessDenied(t *testing.T) {
	f := newFakeSTS()
	f.denied = "222222222222"
	c := newClients(t, f, awsclient.Options{})
	_, err := c.ForTarget(t.Context(), "222222222222", "us-east-1")
	ae, ok := errors.AsType[*awsclient.AssumeRoleError](err)
	if !ok {
		t.Fatalf("ForTarget = %v, want an *AssumeRoleError", err)
	}
	if ae.Code != "AccessDenied" || !strings.Contains(ae.Message, "is not authorized to perform: sts:AssumeRole") {
		t.Errorf("AssumeRoleError code %q message %q; want STS's AccessDenied and its message", ae.Code, ae.Message)
	}
	for _, want := range []string{"222222222222", "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole", "AccessDenied", "not authorized"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, ok := errors.AsType[smithy.APIError](err); !ok {
		t.Errorf("error %v does not unwrap to the STS API error", err)
	}
	// Another account is unaffected.
	if _, err := c.ForTarget(t.Context(), "333333333333", "us-east-1"); err != nil {
		t.Errorf("ForTarget of another account: %v", err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	f := newFakeSTS()
	f.throttles = 1
	c := newClients(t, f, awsclient.Options{})
	if _, err := callerAccount(t.Context(), c.Base()); err != nil {
		t.Fatalf("GetCallerIdentity after a throttle: %v", err)
	}
	if _, _, n := f.snapshot(); n != 2 {
		t.Errorf("GetCallerIdentity attempts = %d, want 2", n)
	}
}

func TestRetryerAbsorbsSustainedThrottling(t *testing.T) {
	r := awsclient.NewRetryer(12)
	if r.MaxAttempts() != 12 {
		t.Errorf("MaxAttempts = %d, want 12", r.MaxAttempts())
	}
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	if !r.IsErrorRetryable(throttle) {
		t.Fatal("a Throttling error is not retryable")
	}
	// The standard retry quota (500 tokens, 5 per throttled retry) would fail the 101st.
	r2, ok := r.(interface {
		GetRetryToken(context.Context, error) (func(error) error, error)
	})
	if !ok {
		t.Fatalf("%T has no GetRetryToken", r)
	}
	for i := range 1000 {
		if _, err := r2.GetRetryToken(t.Context(), throttle); err != nil {
			t.Fatalf("retry %d refused: %v", i, err)
		}
	}
	if _, ok := r.(*retry.AdaptiveMode); !ok {
		t.Errorf("retryer is %T, want the adaptive mode", r)
	}
}

func TestCallsArePacedPerAccountRegionAndService(t *testing.T) {
	f := newFakeSTS()
	c := newClients(t, f, awsclient.Options{RatePerSecond: 20, Burst: 1, STSRatePerSecond: 20})
	cfg, err := c.ForTarget(t.Context(), "222222222222", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cfnClient := cloudformation.NewFromConfig(cfg)
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := cfnClient.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Burst 1 at 20/s: the first call goes at once, the other five 50 ms apart.
	if elapsed := time.Since(start); elapsed < 240*time.Millisecond {
		t.Errorf("6 CloudFormation calls in one lane took %v, want at least 250ms at 20/s", elapsed)
	}

}

func TestEndpointFromEnvironment(t *testing.T) {
	isolate(t)
	f := newFakeSTS()
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	c, err := awsclient.New(t.Context(), awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Base().Region != awsclient.DefaultRegion {
		t.Errorf("Base().Region = %q, want the default %q", c.Base().Region, awsclient.DefaultRegion)
	}
	if got, err := callerAccount(t.Context(), c.Base()); err != nil || got != "111111111111" {
		t.Errorf("GetCallerIdentity through AWS_ENDPOINT_URL = %q, %v", got, err)
	}
}

func TestBadOptionsAndTargets(t *testing.T) {
	isolate(t)
	for _, opts := range []awsclient.Options{
		{RoleARNPattern: "arn:aws:iam::111111111111:role/Fixed"},
		{RatePerSecond: -1},
		{Burst: -2},
	} {
		if _, err := awsclient.New(t.Context(), opts); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", opts)
		}
	}
	c := newClients(t, newFakeSTS(), awsclient.Options{})
	for _, tc := range [][2]string{{"12345", "us-east-1"}, {"222222222222", ""}} {
		if _, err := c.ForTarget(t.Context(), tc[0], tc[1]); err == nil {
			t.Errorf("ForTarget(%q, %q) succeeded, want an error", tc[0], tc[1])
		}
	}
}
