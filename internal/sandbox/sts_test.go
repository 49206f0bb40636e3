package sandbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type identity struct{ Account, Arn, UserIDPrefix, UserIDSuffix string }

func callerIdentity(t *testing.T, cfg aws.Config) (identity, error) {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		return identity{}, err
	}
	id := aws.ToString(out.UserId)
	pre, suf, _ := strings.Cut(id, ":")
	return identity{Account: aws.ToString(out.Account), Arn: aws.ToString(out.Arn), UserIDPrefix: pre[:4], UserIDSuffix: suf}, nil
}

func TestAssumeOrganizationAccountAccessRole(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 3, OUs: 1, Seed: 7})
	org := e.sb.Org()
	mgmt := org.ManagementAccount

	got, err := callerIdentity(t, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := identity{Account: mgmt, Arn: "arn:aws:iam::" + mgmt + ":user/sandbox-admin", UserIDPrefix: "AIDA"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("management identity (-want +got):\n%s", diff)
	}

	members := org.Members()
	if len(members) != 3 {
		t.Fatalf("got %d members, want 3", len(members))
	}
	for _, m := range members {
		cfg := e.member(t, m.ID)
		got, err := callerIdentity(t, cfg)
		if err != nil {
			t.Fatalf("GetCallerIdentity in %s: %v", m.ID, err)
		}
		want := identity{
			Account: m.ID, Arn: "arn:aws:sts::" + m.ID + ":assumed-role/OrganizationAccountAccessRole/test",
			UserIDPrefix: "AROA", UserIDSuffix: "test",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("member identity (-want +got):\n%s", diff)
		}
	}
}

func TestAssumeRoleDenied(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 3})
	members := e.sb.Org().Members()
	a, b := members[0].ID, members[1].ID
	aCfg := e.member(t, a)
	callerA := "arn:aws:sts::" + a + ":assumed-role/OrganizationAccountAccessRole/test"
	mgmtUser := "arn:aws:iam::" + e.sb.Org().ManagementAccount + ":user/sandbox-admin"

	tests := []struct {
		name   string
		cfg    aws.Config
		caller string
		role   string
	}{
		{"member to other member's access role", aCfg, callerA, "arn:aws:iam::" + b + ":role/OrganizationAccountAccessRole"},
		{"missing role", e.cfg, mgmtUser, "arn:aws:iam::" + a + ":role/NoSuchRole"},
		{"unknown account", e.cfg, mgmtUser, "arn:aws:iam::999999999999:role/OrganizationAccountAccessRole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sts.NewFromConfig(tt.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
				RoleArn: aws.String(tt.role), RoleSessionName: aws.String("s1"),
			})
			if got, want := errCode(err), "AccessDenied"; got != want {
				t.Fatalf("error code = %q (%v), want %q", got, err, want)
			}
			msg := "User: " + tt.caller + " is not authorized to perform: sts:AssumeRole on resource: " + tt.role
			if !contains(err, msg) {
				t.Errorf("error %v does not contain %q", err, msg)
			}
		})
	}
}

func TestAssumeRoleValidation(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 3})
	role := "arn:aws:iam::" + e.sb.Org().Members()[0].ID + ":role/OrganizationAccountAccessRole"
	tests := []struct {
		name     string
		in       sts.AssumeRoleInput
		wantCode string
	}{
		{"too short", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s"), DurationSeconds: aws.Int32(899)}, "ValidationError"},
		{"too long", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s"), DurationSeconds: aws.Int32(43201)}, "ValidationError"},
		{"bad session name", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("a b")}, "ValidationError"},
		{"bad arn", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:s3:::bucket/something"), RoleSessionName: aws.String("ok")}, "ValidationError"},
		{"max duration", sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(43200)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sts.NewFromConfig(e.cfg).AssumeRole(context.Background(), &tt.in)
			if got := errCode(err); got != tt.wantCode {
				t.Errorf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestTemporaryCredentialsExpire(t *testing.T) {
	clock := newClock()
	e := start(t, sandbox.Options{Accounts: 1, Seed: 5, Now: clock.Now})
	member := e.sb.Org().Members()[0].ID
	out, err := sts.NewFromConfig(e.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole"),
		RoleSessionName: aws.String("short"), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Credentials.Expiration.UTC(), clock.Now().Add(900*time.Second); !got.Equal(want) {
		t.Errorf("Expiration = %v, want %v", got, want)
	}
	if !strings.HasPrefix(*out.Credentials.AccessKeyId, "ASIA") {
		t.Errorf("AccessKeyId %q does not start with ASIA", *out.Credentials.AccessKeyId)
	}
	c := out.Credentials
	cfg := sdkConfig(e.url, "us-east-1", *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	if _, err := callerIdentity(t, cfg); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clock.Advance(899 * time.Second)
	if _, err := callerIdentity(t, cfg); err != nil {
		t.Fatalf("1s before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := callerIdentity(t, cfg); errCode(err) != "ExpiredToken" {
		t.Fatalf("after expiry: got %v, want ExpiredToken", err)
	}
	// The long-term management key never expires.
	clock.Advance(1000 * time.Hour)
	if _, err := callerIdentity(t, e.cfg); err != nil {
		t.Fatalf("management key after 1000h: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 5})
	c := e.sb.ManagementCredentials()
	tests := []struct {
		name       string
		cfg        aws.Config
		wantSTS    string
		wantOrgsJS string
	}{
		{"unknown key", sdkConfig(e.url, "us-east-1", "AKIAUNKNOWNUNKNOWN00", "x", ""), "InvalidClientTokenId", "UnrecognizedClientException"},
		{"session token on long-term key", sdkConfig(e.url, "us-east-1", c.AccessKeyID, c.SecretAccessKey, "bogus"), "InvalidClientTokenId", "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sts.NewFromConfig(tt.cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if got := errCode(err); got != tt.wantSTS {
				t.Errorf("sts: code %q (%v), want %q", got, err, tt.wantSTS)
			}
			_, err = organizations.NewFromConfig(tt.cfg).ListRoots(context.Background(), &organizations.ListRootsInput{})
			if got := errCode(err); got != tt.wantOrgsJS {
				t.Errorf("organizations: code %q (%v), want %q", got, err, tt.wantOrgsJS)
			}
		})
	}
}

func TestRoleChaining(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 11})
	members := e.sb.Org().Members()
	a, b := members[0].ID, members[1].ID
	// A role in b trusting account a: reachable only through a session in a.
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + a + `"},"Action":"sts:AssumeRole"}}`
	if _, err := sandbox.PutRoleForTest(e.sb, b, "Deployer", trust); err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(e.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + b + ":role/Deployer"), RoleSessionName: aws.String("direct"),
	}); errCode(err) != "AccessDenied" {
		t.Fatalf("management assuming Deployer: got %v, want AccessDenied", err)
	}
	aCfg := e.member(t, a)
	bCfg := e.assume(t, aCfg, b, "Deployer")
	got, err := callerIdentity(t, bCfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + b + ":assumed-role/Deployer/test"; got.Arn != want {
		t.Errorf("chained identity %q, want %q", got.Arn, want)
	}
	// Chained sessions are limited to one hour.
	_, err = sts.NewFromConfig(aCfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + b + ":role/Deployer"), RoleSessionName: aws.String("long"),
		DurationSeconds: aws.Int32(7200),
	})
	if errCode(err) != "ValidationError" {
		t.Errorf("chained 2h session: got %v, want ValidationError", err)
	}
}

// Options.AccessRole seeds members with Control Tower's role instead of Organizations'.
func TestControlTowerAccessRole(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 3, AccessRole: "AWSControlTowerExecution"})
	member := e.sb.Org().Members()[0].ID
	var names []string
	for _, r := range e.sb.Roles(member) {
		names = append(names, r.Name)
	}
	if len(names) != 1 || names[0] != "AWSControlTowerExecution" {
		t.Fatalf("member roles %v, want [AWSControlTowerExecution]", names)
	}
	e.assume(t, e.cfg, member, "AWSControlTowerExecution")
	if _, err := sandbox.New(sandbox.Options{AccessRole: "no/slashes"}); err == nil {
		t.Error("a role name with a slash was accepted")
	}
}
