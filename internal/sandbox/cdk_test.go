package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// requireCDK returns the directory where scripts/test.sh installed the pinned CDK CLI and
// construct library (STACKFLEET_CDK_DIR, holding node_modules). Without it the test is
// skipped, unless CI is set: there its absence is a failure.
func requireCDK(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STACKFLEET_CDK_DIR")
	msg := "STACKFLEET_CDK_DIR is not set (scripts/test.sh installs the CDK CLI and sets it)"
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "cdk")); err == nil {
			if _, err := exec.LookPath("node"); err == nil {
				return dir
			}
			msg = "node is not on PATH"
		} else {
			msg = "no CDK CLI in " + dir + ": " + err.Error()
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// copyDir copies the files of src (recursively) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCDKCLI runs the real CDK CLI, unmodified, against the sandbox: cdk bootstrap, a default
// cdk deploy of an app with a file asset (the CLI zips the Lambda's code directory, uploads it
// and the template to the bootstrap bucket through the file-publishing role, and deploys by
// TemplateURL through a change set), and cdk destroy.
func TestCDKCLI(t *testing.T) {
	cdkDir := requireCDK(t)
	e := start(t, sandbox.Options{Seed: 41, Regions: []string{"us-east-1", "eu-west-1"}})
	m := e.sb.ManagementCredentials()
	app := t.TempDir()
	copyDir(t, "testdata/cdkapp", app)
	home := t.TempDir()
	cdk := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(cdkDir, "node_modules", ".bin", "cdk"), append(args, "--no-notices", "--no-color")...)
		cmd.Dir = app
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + home, "CI=true",
			"NODE_PATH=" + filepath.Join(cdkDir, "node_modules"),
			"CDK_DISABLE_VERSION_CHECK=1", "CDK_DISABLE_CLI_TELEMETRY=true",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_ENDPOINT_URL=" + e.url, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=" + m.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + m.SecretAccessKey,
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		t.Logf("cdk %s (%v):\n%s", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond), out.String())
		if err != nil {
			t.Fatalf("cdk %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	ctx := context.Background()
	cf := cloudformation.NewFromConfig(e.cfg)

	cdk("bootstrap", "aws://"+m.Account+"/us-east-1")
	bucket := "cdk-hnb659fds-assets-" + m.Account + "-us-east-1"

	outFile := filepath.Join(app, "outputs.json")
	cdk("deploy", "--require-approval", "never", "--outputs-file", outFile)
	if got := stackStatus(t, cf, "HelloStack"); got != "CREATE_COMPLETE" {
		t.Fatalf("HelloStack: %s", got)
	}
	var outs map[string]map[string]string
	data, err := os.ReadFile(outFile)
	if err == nil {
		err = json.Unmarshal(data, &outs)
	}
	if err != nil || !strings.HasPrefix(outs["HelloStack"]["FunctionName"], "HelloStack-Hello") {
		t.Errorf("outputs file: %s, %v", data, err)
	}
	// The asset (a zip of the code directory) and the template are in the bootstrap bucket.
	list, err := s3Client(e.cfg).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var zips, templates int
	for _, o := range list.Contents {
		switch {
		case strings.HasSuffix(aws.ToString(o.Key), ".zip"):
			zips++
		case strings.HasSuffix(aws.ToString(o.Key), ".json"):
			templates++
		}
	}
	if zips != 1 || templates != 1 {
		t.Errorf("bootstrap bucket holds %d zips and %d templates, want 1 and 1: %+v", zips, templates, list.Contents)
	}
	if n := e.sb.Counters().Calls("s3", "PutObject"); n != 2 {
		t.Errorf("PutObject calls: %d, want 2", n)
	}

	// The assembly stackfleet's own tests deploy (internal/cli/testdata/cdkasm) is this app's.
	for _, f := range []string{"HelloStack.template.json", "HelloStack.assets.json"} {
		synth, err1 := os.ReadFile(filepath.Join(app, "cdk.out", f))
		fixture, err2 := os.ReadFile(filepath.Join("..", "cli", "testdata", "cdkasm", f))
		if err1 != nil || err2 != nil || !bytes.Equal(synth, fixture) {
			t.Errorf("internal/cli/testdata/cdkasm/%s differs from what cdk synth makes of testdata/cdkapp (%v, %v): copy %s/cdk.out there", f, err1, err2, app)
		}
	}

	cdk("destroy", "--force")
	if _, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("HelloStack")}); errCode(err) != "ValidationError" {
		t.Errorf("HelloStack after destroy: %v", err)
	}
}
