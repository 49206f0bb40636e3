package cli_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/sandbox"
	"github.com/stackfleet/stackfleet/internal/state"
)

// benchFleet starts a sandbox with accounts × regions, writes a one-stack-set config targeting
// every member, and points the AWS environment at it. It returns the config path.
func benchFleet(b *testing.B, accounts int, regions []string, delay time.Duration, rollout string) (*sandbox.Sandbox, string) {
	b.Helper()
	sb := startSandbox(b, sandbox.Options{Accounts: accounts, OUs: 4, Seed: 3, Regions: regions, ResourceDelay: delay})
	dir := b.TempDir()
	regionList := ""
	for i, r := range regions {
		if i > 0 {
			regionList += ", "
		}
		regionList += r
	}
	cfg := fmt.Sprintf(`version: 1
organization: {source: aws}
regions: [%s]
execution: {role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}
stackSets:
  - name: bench
    template: t.yaml
    targets: {ous: [Root]}
    rollout: {%s}
`, regionList, rollout)
	tmpl := "Resources:\n  Topic: {Type: AWS::SNS::Topic}\nOutputs:\n  Arn: {Value: !Ref Topic}\n"
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(tmpl), 0o644); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "stackfleet.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	return sb, path
}

// startSandbox starts a sandbox for the test and points the in-process CLI at it through the
// AWS environment variables (its management account's credentials, no config files).
func startSandbox(tb testing.TB, opts sandbox.Options) *sandbox.Sandbox {
	tb.Helper()
	sb, err := sandbox.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sb.Close() })
	creds := sb.ManagementCredentials()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		"AWS_REGION": creds.Region, "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		tb.Setenv(k, v)
	}
	return sb
}

func run(b *testing.B, args ...string) {
	b.Helper()
	if code := cli.Main(context.Background(), args, nil, io.Discard, os.Stderr); code != 0 {
		b.Fatalf("stackfleet %v exited %d", args, code)
	}
}

// lastOperation reads the newest operation of a stack set from the config's state.
func lastOperation(b *testing.B, cfg, stackSet string) fleet.Operation {
	b.Helper()
	st, err := state.Open(context.Background(), filepath.Join(filepath.Dir(cfg), ".stackfleet"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ops, err := st.Operations(context.Background(), stackSet, 1)
	if err != nil || len(ops) == 0 {
		b.Fatalf("no operation of %s: %v", stackSet, err)
	}
	return ops[0]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// BenchmarkFleet4000 plans and applies 1,000 accounts × 4 regions at max concurrency 100 with
// zero simulated duration, then re-applies with nothing to do. The sandbox runs in the same
// process, so CPU and memory include it.
//
//	go test ./internal/cli -run '^$' -bench Fleet4000 -benchtime 1x
func BenchmarkFleet4000(b *testing.B) {
	regions := []string{"us-east-1", "eu-west-1", "ap-northeast-1", "us-west-2"}
	for b.Loop() {
		sb, cfg := benchFleet(b, 1000, regions, 0, "maxConcurrentCount: 100, failureToleranceCount: 99")
		instances := 4000.0
		cpu0, t0 := cpuTime(), time.Now()
		run(b, "plan", "-c", cfg)
		planned := time.Since(t0)
		run(b, "apply", "-c", cfg, "--auto-approve", "--poll-interval", "50ms")
		wall, cpu := time.Since(t0), cpuTime()-cpu0
		b.ReportMetric(planned.Seconds(), "plan-s")
		c := sb.Counters()
		b.ReportMetric(wall.Seconds(), "apply-s")
		b.ReportMetric(float64(c.Calls("cloudformation", ""))/instances, "cfn-calls/instance")
		b.ReportMetric(float64(c.Writes("cloudformation"))/instances, "cfn-writes/instance")
		b.ReportMetric(float64(cpu.Microseconds())/1000/instances, "cpu-ms/instance")

		sb.ResetCounters()
		t1 := time.Now()
		run(b, "apply", "-c", cfg, "--auto-approve")
		b.ReportMetric(time.Since(t1).Seconds(), "noop-apply-s")
		b.ReportMetric(float64(sb.Counters().Writes("cloudformation")), "noop-cfn-writes")
		// The refresh reads every account-region once; without it the no-op apply reads nothing.
		b.ReportMetric(float64(sb.Counters().Calls("cloudformation", "DescribeStacks")), "noop-refresh-reads")
		t2 := time.Now()
		run(b, "apply", "-c", cfg, "--auto-approve", "--refresh=false")
		b.ReportMetric(time.Since(t2).Seconds(), "noop-apply-norefresh-s")
		b.ReportMetric(maxRSSMB(), "peak-rss-MB")
		runtime.GC()
	}
}

// BenchmarkPaced200x2 applies 200 accounts × 2 sequential regions at concurrency 50 with a
// simulated 5 s per stack: the ideal is ceil(200/50) × 5 s per region = 40 s. It reports the
// efficiency (ideal / time) of the rollout itself (the operation, from the journal) and of the
// whole apply command (which also reads the organization and plans), and the CloudFormation read
// calls per instance.
//
//	go test ./internal/cli -run '^$' -bench Paced200x2 -benchtime 1x
var pacedPoll = envOr("STACKFLEET_BENCH_POLL", "500ms")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func BenchmarkPaced200x2(b *testing.B) {
	for b.Loop() {
		sb, cfg := benchFleet(b, 200, []string{"us-east-1", "eu-west-1"}, 5*time.Second,
			"maxConcurrentCount: 50, failureToleranceCount: 49, regionOrder: [us-east-1, eu-west-1]")
		run(b, "plan", "-c", cfg)
		sb.ResetCounters()
		t0 := time.Now()
		run(b, "apply", "-c", cfg, "--auto-approve", "--poll-interval", pacedPoll)
		wall := time.Since(t0)
		c := sb.Counters()
		reads := c.Calls("cloudformation", "") - c.Writes("cloudformation")
		op := lastOperation(b, cfg, "bench")
		rollout := op.EndedAt.Sub(op.StartedAt)
		b.ReportMetric(wall.Seconds(), "apply-s")
		b.ReportMetric(rollout.Seconds(), "rollout-s")
		b.ReportMetric(40/rollout.Seconds()*100, "rollout-efficiency-%")
		b.ReportMetric(40/wall.Seconds()*100, "apply-efficiency-%")
		b.ReportMetric(float64(reads)/400, "cfn-reads/instance")
	}
}

// BenchmarkSmall8x2 applies 8 accounts × 2 regions of instant stacks (the simulated duration is
// zero): the whole command's wall time is stackfleet's fixed overhead — reading the
// organization, the refresh, planning, the journal, polling.
//
//	go test ./internal/cli -run '^$' -bench Small8x2 -benchtime 5x
func BenchmarkSmall8x2(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		_, cfg := benchFleet(b, 8, []string{"us-east-1", "eu-west-1"}, 0, "maxConcurrentCount: 8, failureToleranceCount: 7")
		b.StartTimer()
		t0 := time.Now()
		run(b, "apply", "-c", cfg, "--auto-approve", "--poll-interval", envOr("STACKFLEET_BENCH_POLL", "500ms"))
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "apply-s")
}
