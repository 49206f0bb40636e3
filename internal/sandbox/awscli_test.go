package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	args = append(args, "--endpoint-url", url, "--output", "json")
	if cli == awsCLIPath {
		args = append(args, "--no-cli-pager") // v2 only
	}
	cmd := exec.Command(cli, args...)
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

// TestAWSCLIS3 drives the sandbox's S3 with the AWS CLI's high-level commands (s3 mb, cp,
// ls, rm, rb) and s3api, then packages a 200 KB template with a local Lambda code directory
// (cloudformation package uploads the code) and deploys it with --s3-bucket (deploy uploads
// the template and creates the stack by TemplateURL).
func TestAWSCLIS3(t *testing.T) {
	cli := requireAWSCLI(t)
	if testing.Short() {
		t.Skip("the AWS CLI starts slowly; skipped with -short")
	}
	e := start(t, sandbox.Options{Seed: 32})
	m := e.sb.ManagementCredentials()
	mgmt := cliCreds{m.AccessKeyID, m.SecretAccessKey, ""}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, cli, e.url, mgmt, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	local := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(local, []byte("hello s3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("s3", "mb", "s3://cli-artifacts")
	run("s3", "cp", local, "s3://cli-artifacts/docs/notes.txt")
	if out := run("s3", "ls", "s3://cli-artifacts/docs/"); !strings.Contains(out, "notes.txt") {
		t.Errorf("s3 ls: %q", out)
	}
	back := filepath.Join(dir, "back.txt")
	run("s3", "cp", "s3://cli-artifacts/docs/notes.txt", back)
	if data, err := os.ReadFile(back); err != nil || string(data) != "hello s3\n" {
		t.Errorf("downloaded %q, %v", data, err)
	}
	if out := run("s3api", "head-object", "--bucket", "cli-artifacts", "--key", "docs/notes.txt"); !strings.Contains(out, `"ContentLength": 9`) {
		t.Errorf("head-object: %s", out)
	}

	// package + deploy --s3-bucket of a 200 KB template. Both commands make their own S3
	// client without --endpoint-url; they reach the sandbox through AWS_ENDPOINT_URL, which
	// the CLI honours for every client from v2.13 (and v1.29) on.
	pkgCLI := endpointAwareCLI(t, cli)
	run = func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, pkgCLI, e.url, mgmt, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	code := filepath.Join(dir, "src")
	if err := os.MkdirAll(code, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(code, "index.js"), []byte("exports.handler = async () => 'ok';\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := `AWSTemplateFormatVersion: '2010-09-09'
Metadata:
  Padding: '` + strings.Repeat("p", 200_000) + `'
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: src
Outputs:
  FunctionArn:
    Value: !GetAtt Fn.Arn
`
	src := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(src, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	packaged := filepath.Join(dir, "packaged.yaml")
	run("cloudformation", "package", "--template-file", src, "--s3-bucket", "cli-artifacts", "--output-template-file", packaged)
	if data, err := os.ReadFile(packaged); err != nil || !strings.Contains(string(data), "S3Bucket: cli-artifacts") {
		t.Fatalf("packaged template: %v\n%.400s", err, data)
	}
	out := run("cloudformation", "deploy", "--template-file", packaged, "--stack-name", "big-app",
		"--s3-bucket", "cli-artifacts", "--capabilities", "CAPABILITY_IAM")
	if !strings.Contains(out, "Successfully created/updated stack - big-app") {
		t.Fatalf("deploy: %s", out)
	}
	if e.sb.Counters().Calls("cloudformation", "CreateChangeSet") != 1 {
		t.Errorf("CreateChangeSet calls: %d", e.sb.Counters().Calls("cloudformation", "CreateChangeSet"))
	}
	// The code zip and the template are objects of the bucket.
	var list struct{ Contents []struct{ Key string } }
	if err := json.Unmarshal([]byte(run("s3api", "list-objects-v2", "--bucket", "cli-artifacts")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 3 {
		t.Errorf("objects %+v, want the notes, the code and the template", list.Contents)
	}
	run("s3", "rm", "s3://cli-artifacts", "--recursive")
	run("s3", "rb", "s3://cli-artifacts")
	if out, err := runCLI(t, cli, e.url, mgmt, "s3api", "head-bucket", "--bucket", "cli-artifacts"); err == nil || !strings.Contains(out, "404") {
		t.Errorf("head-bucket after rb: %v %s", err, out)
	}
}

// endpointAwareCLI returns an AWS CLI that sends every client's calls to AWS_ENDPOINT_URL:
// cli if it is v2.13 or later, else a v1 CLI (1.29 or later) on PATH. Without one the test is
// skipped: Debian's CLI is 2.9, and no newer one can be installed on every machine.
func endpointAwareCLI(t *testing.T, cli string) string {
	t.Helper()
	candidates := []string{cli}
	if p, err := exec.LookPath("aws"); err == nil && p != cli {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err != nil {
			continue
		}
		var major, minor int
		if _, err := fmt.Sscanf(string(out), "aws-cli/%d.%d", &major, &minor); err != nil {
			continue
		}
		if major == 2 && minor >= 13 || major == 1 && minor >= 29 {
			return c
		}
		t.Logf("%s: %s does not send every client to AWS_ENDPOINT_URL", c, strings.TrimSpace(string(out)))
	}
	t.Skip("no AWS CLI that honours AWS_ENDPOINT_URL for S3 (v2.13+ or v1.29+) on PATH")
	return ""
}
