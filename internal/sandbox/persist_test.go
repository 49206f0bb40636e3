package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

const stateFile = "sandbox-state.json"

func TestPersistOrgAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{Accounts: 4, OUs: 1, Seed: 21, DataDir: dir, SaveDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sb: sb, url: url}
	c := sb.ManagementCredentials()
	e.cfg = sdkConfig(url, c.Region, c.AccessKeyID, c.SecretAccessKey, "")
	ctx := context.Background()
	client := organizations.NewFromConfig(e.cfg)
	root := sb.Org().RootID
	if _, err := client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: &root, Name: aws.String("Later")}); err != nil {
		t.Fatal(err)
	}
	// The debounced save writes the new OU without waiting for Close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, stateFile))
		if bytes.Contains(b, []byte(`"Later"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("state file does not contain the new OU after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	memberCfg := e.member(t, sb.Org().Members()[0].ID)
	before := sb.Org()
	creds := sb.ManagementCredentials()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with different generation options: the saved state wins.
	again, err := sandbox.New(sandbox.Options{Accounts: 1, Seed: 99, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if diff := cmp.Diff(before, again.Org()); diff != "" {
		t.Errorf("org after restart (-before +after):\n%s", diff)
	}
	if again.ManagementCredentials() != creds {
		t.Errorf("management credentials changed across restart")
	}
	url2, err := again.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Temporary credentials issued before the restart still work.
	memberCfg.BaseEndpoint = aws.String(url2)
	if got, err := callerIdentity(t, memberCfg); err != nil || got.Account != before.Members()[0].ID {
		t.Errorf("session from before the restart: %+v, %v", got, err)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{Accounts: 2, Seed: 1, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "corrupt"},
		{"flipped byte", bytes.Replace(good, []byte(`management`), []byte(`managemenT`), 1), "checksum"},
		{"not json", []byte("hello"), "invalid JSON"},
		{"other format", []byte(`{"format":"something-else","version":1}`), "not a sandbox state file"},
		{"future version", bytes.Replace(good, []byte(`"version":1`), []byte(`"version":99`), 1), "unsupported state version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, stateFile), tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			sb, err := sandbox.New(sandbox.Options{DataDir: d})
			if err == nil {
				sb.Close()
				t.Fatal("New succeeded on a corrupt state file")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), stateFile) {
				t.Errorf("error %q does not name the file and %q", err, tt.want)
			}
		})
	}
}

// TestLoadsStateOfEarlierBuild loads testdata/state-v1.json, written by an earlier build (a
// stack with a role, bucket, parameter and alarm in the management account, an OU added, a
// role session issued): everything is there, and saving it again writes the same state.
func TestLoadsStateOfEarlierBuild(t *testing.T) {
	fixture, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	// The clock of the fixture, so that its role session is still valid.
	now := func() time.Time { return time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC) }
	e := start(t, sandbox.Options{DataDir: dir, Now: now})
	org := e.sb.Org()
	if len(org.Members()) != 2 || len(org.OUs) != 4 || org.ManagementAccount != "122717756901" {
		t.Errorf("org: %d members, %d OUs, management %s", len(org.Members()), len(org.OUs), org.ManagementAccount)
	}
	if c := e.sb.ManagementCredentials(); c.AccessKeyID != "AKIAIWEOXZLC4BBBHOXK" {
		t.Errorf("management key %s", c.AccessKeyID)
	}
	var roles []string
	for _, r := range e.sb.Roles(org.ManagementAccount) {
		roles = append(roles, r.Name)
	}
	if diff := cmp.Diff([]string{"fixture-role"}, roles); diff != "" {
		t.Errorf("management roles (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	c := cloudformation.NewFromConfig(e.cfg)
	if got := stackStatus(t, c, "fx"); got != cfntypes.StackStatusCreateComplete {
		t.Errorf("stack fx: %s", got)
	}
	if got := outputs(t, c, "fx")["RoleArn"]; got != "arn:aws:iam::122717756901:role/fixture-role" {
		t.Errorf("output RoleArn %q", got)
	}
	if p, err := ssm.NewFromConfig(e.cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/fixture/p")}); err != nil || *p.Parameter.Value != "v1" {
		t.Errorf("parameter: %+v, %v", p, err)
	}
	if a, err := cloudwatch.NewFromConfig(e.cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"fixture-alarm"}}); err != nil || len(a.MetricAlarms) != 1 {
		t.Errorf("alarm: %+v, %v", a, err)
	}
	// The role session issued before the save still works.
	session := sdkConfig(e.url, "us-east-1", "ASIAJCNW6HHMG2EDW7W6", "xUTbIiI+Mahyglew329VJydOyCQ4QpLmLnCxUYnq", sessionTokenOf(t, fixture, "ASIAJCNW6HHMG2EDW7W6"))
	if got, err := callerIdentity(t, session); err != nil || got.Account != "252822585047" {
		t.Errorf("session from the fixture: %+v, %v", got, err)
	}
	// Saved again, before anything changes, the state is the same.
	if err := e.sb.Save(); err != nil {
		t.Fatal(err)
	}

	saved, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	// One difference: the bucket names the stacks claimed (section "Names", from before the
	// sandbox had S3) are S3 buckets now (section "S3").
	want, got := stateOf(t, fixture), stateOf(t, saved)
	delete(want, "Names")
	s3state := got["S3"]
	delete(got, "S3")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state saved again differs from the fixture (-fixture +saved):\n%s", diff)
	}
	buckets, _ := s3state.(map[string]any)["buckets"].([]any)
	if len(buckets) != 1 || buckets[0].(map[string]any)["Name"] != "fixture-bucket-1" || buckets[0].(map[string]any)["Account"] != "122717756901" {
		t.Errorf("S3 section %v, want the fixture's bucket in the management account", s3state)
	}
	// The bucket stays the stack's: another stack cannot take its name.
	bucket := "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: fixture-bucket-1}\n"
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("thief"), TemplateBody: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("thief")}, waitFor); err == nil {
		t.Error("a stack took the bucket name of the fixture's stack")
	}
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("thief")}); err != nil {
		t.Fatal(err)
	}
	dw := cloudformation.NewStackDeleteCompleteWaiter(c, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := dw.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("thief")}, waitFor); err != nil {
		t.Fatal(err)
	}
}

// stateOf returns the "state" member of a state file, decoded generically.
func stateOf(t *testing.T, file []byte) map[string]any {
	t.Helper()
	var env struct{ State map[string]any }
	if err := json.Unmarshal(file, &env); err != nil {
		t.Fatal(err)
	}
	return env.State
}

// sessionTokenOf returns the session token of the access key id in a state file.
func sessionTokenOf(t *testing.T, file []byte, id string) string {
	t.Helper()
	for _, k := range stateOf(t, file)["Keys"].([]any) {
		if k := k.(map[string]any); k["ID"] == id {
			return k["SessionToken"].(string)
		}
	}
	t.Fatalf("no key %s in the state file", id)
	return ""
}
