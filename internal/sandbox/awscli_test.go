package sandbox_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

const awsCLIPath = "/usr/bin/aws"

// requireAWSCLI returns the path of the AWS CLI v2. Without it the test is skipped, unless
// the CI environment variable is set: CI installs the CLI, so there its absence is a failure.
func requireAWSCLI(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(awsCLIPath, "--version").CombinedOutput()
	if err == nil && bytes.HasPrefix(out, []byte("aws-cli/2")) {
		return awsCLIPath
	}
	msg := "AWS CLI v2 not available at " + awsCLIPath + ": " + strings.TrimSpace(string(out))
	if err != nil {
		msg += " (" + err.Error() + ")"
	}
	if os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// cliCreds are the credentials a CLI invocation runs with.
type cliCreds struct{ key, secret, token string }

// runCLI runs the AWS CLI against the sandbox with a clean environment: no config or
// credentials files, no pager, no instance metadata.
func runCLI(t *testing.T, cli, url string, c cliCreds, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cli, append(args, "--endpoint-url", url, "--output", "json", "--no-cli-pager")...)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + url,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + c.key,
		"AWS_SECRET_ACCESS_KEY=" + c.secret,
	}
	if c.token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+c.token)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("aws %s (%v): %s%s", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond), stdout.String(), stderr.String())
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func TestAWSCLI(t *testing.T) {
	cli := requireAWSCLI(t)
	if testing.Short() {
		t.Skip("the AWS CLI starts slowly; skipped with -short")
	}
	e := start(t, sandbox.Options{Accounts: 3, OUs: 1, Seed: 31})
	m := e.sb.ManagementCredentials()
	mgmt := cliCreds{m.AccessKeyID, m.SecretAccessKey, ""}
	member := e.sb.Org().Members()[0].ID

	// assume-role into a member, then act there with the returned credentials.
	out, err := runCLI(t, cli, e.url, mgmt, "sts", "assume-role",
		"--role-arn", "arn:aws:iam::"+member+":role/OrganizationAccountAccessRole", "--role-session-name", "cli")
	if err != nil {
		t.Fatalf("assume-role: %v", err)
	}
	var assumed struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(out), &assumed); err != nil {
		t.Fatalf("assume-role output: %v", err)
	}
	mc := cliCreds{assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken}
	out, err = runCLI(t, cli, e.url, mc, "sts", "get-caller-identity")
	if err != nil {
		t.Fatalf("get-caller-identity: %v", err)
	}
	var ident struct{ Account, Arn string }
	if err := json.Unmarshal([]byte(out), &ident); err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + member + ":assumed-role/OrganizationAccountAccessRole/cli"; ident.Account != member || ident.Arn != want {
		t.Errorf("identity %+v, want account %s arn %s", ident, member, want)
	}

	// deploy creates the stack through a change set; the same deploy again has no changes.
	tmpl := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(tmpl, []byte(appTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	deploy := []string{"cloudformation", "deploy", "--template-file", tmpl, "--stack-name", "cli-app",
		"--parameter-overrides", "Env=cli", "--no-fail-on-empty-changeset"}
	out, err = runCLI(t, cli, e.url, mc, deploy...)
	if err != nil || !strings.Contains(out, "Successfully created/updated stack - cli-app") {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	// The CLI names change sets after the current second, and executed change sets keep their
	// names as on AWS; a second deploy within the same second would collide.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	out, err = runCLI(t, cli, e.url, mc, deploy...)
	if err != nil || !strings.Contains(out, "No changes to deploy") {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if w := e.sb.Counters().Calls("cloudformation", "ExecuteChangeSet"); w != 1 {
		t.Errorf("ExecuteChangeSet called %d times, want 1", w)
	}

	out, err = runCLI(t, cli, e.url, mc, "cloudformation", "describe-stacks", "--stack-name", "cli-app")
	if err != nil {
		t.Fatalf("describe-stacks: %v", err)
	}
	var stacks struct {
		Stacks []struct {
			StackStatus string
			Outputs     []struct{ OutputKey, OutputValue string }
		}
	}
	if err := json.Unmarshal([]byte(out), &stacks); err != nil {
		t.Fatal(err)
	}
	if len(stacks.Stacks) != 1 || stacks.Stacks[0].StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("describe-stacks: %+v", stacks)
	}
	got := map[string]string{}
	for _, o := range stacks.Stacks[0].Outputs {
		got[o.OutputKey] = o.OutputValue
	}
	if got["Env"] != "cli" || got["ParamName"] != "/app/cli-app/env" {
		t.Errorf("outputs %v", got)
	}

	// list-accounts (the CLI follows NextToken itself) lists the seeded accounts.
	out, err = runCLI(t, cli, e.url, mgmt, "organizations", "list-accounts")
	if err != nil {
		t.Fatalf("list-accounts: %v", err)
	}
	var accounts struct{ Accounts []struct{ Id, Name string } }
	if err := json.Unmarshal([]byte(out), &accounts); err != nil {
		t.Fatal(err)
	}
	var ids, want []string
	for _, a := range accounts.Accounts {
		ids = append(ids, a.Id)
	}
	for _, a := range e.sb.Org().Accounts {
		want = append(want, a.ID)
	}
	slices.Sort(ids)
	slices.Sort(want)
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("list-accounts (-want +got):\n%s", diff)
	}
}
