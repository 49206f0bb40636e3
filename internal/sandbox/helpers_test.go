package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// env is a started sandbox and an SDK configuration for its management account.
type env struct {
	sb  *sandbox.Sandbox
	url string
	cfg aws.Config
}

// start creates and starts a sandbox that is closed when the test ends.
func start(t testing.TB, opts sandbox.Options) *env {
	t.Helper()
	sb, err := sandbox.New(opts)
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
	return &env{sb: sb, url: url, cfg: sdkConfig(url, c.Region, c.AccessKeyID, c.SecretAccessKey, "")}
}

// sdkConfig is an SDK configuration for the sandbox that reads nothing from the environment
// and retries quickly.
func sdkConfig(url, region, key, secret, token string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.MaxBackoff = 20 * time.Millisecond
			})
		},
	}
}

// assume assumes role in account with cfg and returns a configuration for the session.
func (e *env) assume(t testing.TB, cfg aws.Config, account, role string) aws.Config {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + account + ":role/" + role),
		RoleSessionName: aws.String("test"),
	})
	if err != nil {
		t.Fatalf("AssumeRole %s in %s: %v", role, account, err)
	}
	c := out.Credentials
	next := sdkConfig(e.url, cfg.Region, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	return next
}

// member returns a configuration acting in account through OrganizationAccountAccessRole.
func (e *env) member(t testing.TB, account string) aws.Config {
	return e.assume(t, e.cfg, account, "OrganizationAccountAccessRole")
}

// withRegion returns cfg for another region.
func withRegion(cfg aws.Config, region string) aws.Config {
	cfg = cfg.Copy()
	cfg.Region = region
	return cfg
}

// errCode returns the AWS error code of err ("" if none).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// contains reports whether err's text contains all of parts.
func contains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
