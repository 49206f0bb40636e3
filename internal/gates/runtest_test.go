package gates_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates"
)

func TestRunTest(t *testing.T) {
	t.Setenv("GATES_TEST_INHERITED", "inherited")
	dir := t.TempDir()
	tests := []struct {
		name       string
		tc         fleet.TestCommand
		wantOK     bool
		wantReason string // prefix
		wantOutput string
	}{
		{
			name: "exit 0", tc: fleet.TestCommand{Name: "smoke", Command: "echo hello"},
			wantOK: true, wantReason: "test smoke passed in ", wantOutput: "hello\n",
		},
		{
			name: "exit 1 keeps output", tc: fleet.TestCommand{Name: "smoke", Command: "echo out; echo err >&2; exit 1"},
			wantReason: "test smoke exited 1", wantOutput: "out\nerr\n",
		},
		{
			name: "exit code", tc: fleet.TestCommand{Name: "e2e", Command: "exit 42"},
			wantReason: "test e2e exited 42",
		},
		{
			name: "environment",
			tc: fleet.TestCommand{Name: "env", Command: `echo "$STACKFLEET_ACCOUNT $STACKFLEET_REGION $STACKFLEET_STACK"; ` +
				`echo "$STACKFLEET_OUTPUT_LOADBALANCERDNS $STACKFLEET_OUTPUT_APIID $STACKFLEET_OUTPUT_DASH_KEY $GATES_TEST_INHERITED"`},
			wantOK: true, wantReason: "test env passed",
			wantOutput: "222222222222 eu-west-1 web\nlb.example.com abc123 d inherited\n",
		},
		{
			name: "dir", tc: fleet.TestCommand{Name: "pwd", Command: "pwd -P", Dir: dir},
			wantOK: true, wantOutput: mustEval(t, dir) + "\n",
		},
		{
			name: "missing dir", tc: fleet.TestCommand{Name: "pwd", Command: "pwd", Dir: filepath.Join(dir, "nope")},
			wantReason: "test pwd: directory: stat " + filepath.Join(dir, "nope") + ": no such file or directory",
		},
		{
			name: "dir is a file", tc: fleet.TestCommand{Name: "pwd", Command: "pwd", Dir: "/dev/null"},
			wantReason: "test pwd: directory: /dev/null is not a directory",
		},
		{
			name: "killed by signal", tc: fleet.TestCommand{Name: "sig", Command: "echo before; kill -9 $$"},
			wantReason: "test sig killed by signal killed", wantOutput: "before\n",
		},
		{
			name: "no name", tc: fleet.TestCommand{Command: "false"},
			wantReason: `test "false" exited 1`,
		},
		{
			name: "no stdin", tc: fleet.TestCommand{Name: "cat", Command: "cat"},
			wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gates.RunTest(context.Background(), tt.tc, target)
			if got.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (reason %q, output %q)", got.OK, tt.wantOK, got.Reason, got.Output)
			}
			if !strings.HasPrefix(got.Reason, tt.wantReason) {
				t.Errorf("reason %q does not start with %q", got.Reason, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantOutput, got.Output); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func mustEval(t *testing.T, dir string) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRunTestOutputTail(t *testing.T) {
	// 200001 bytes: 'a's, then a final line that must survive.
	got := gates.RunTest(context.Background(), fleet.TestCommand{
		Name: "big", Command: `head -c 199990 /dev/zero | tr '\0' a; echo; echo "last line"; exit 2`,
	}, target)
	if got.OK || got.Reason != "test big exited 2" {
		t.Errorf("Result = OK %v, reason %q", got.OK, got.Reason)
	}
	head, body, ok := strings.Cut(got.Output, "\n")
	if !ok || head != "[… 134465 bytes of earlier output omitted …]" {
		t.Errorf("first line = %q", head)
	}
	if len(body) != gates.MaxTestOutput || !strings.HasSuffix(body, "a\nlast line\n") {
		t.Errorf("kept %d bytes ending %q, want %d ending with the last line", len(body), body[max(len(body)-20, 0):], gates.MaxTestOutput)
	}
}

func TestRunTestTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	got := gates.RunTest(context.Background(), fleet.TestCommand{
		Name: "slow", Command: "sleep 60 & echo $! > " + pidFile + "; echo started; wait", Timeout: time.Second,
	}, target)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("RunTest took %s", d)
	}
	if got.OK || got.Reason != "test slow timed out after 1s" {
		t.Errorf("Result = OK %v, reason %q", got.OK, got.Reason)
	}
	if got.Output != "started\n" {
		t.Errorf("output %q", got.Output)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestRunTestStrayProcessKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// The background sleep keeps stdout open; RunTest must not wait for it.
	got := gates.RunTest(context.Background(), fleet.TestCommand{
		Name: "stray", Command: "sleep 60 & echo $! > " + pidFile + "; echo done",
	}, target)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("RunTest took %s", d)
	}
	if !got.OK || got.Output != "done\n" {
		t.Errorf("Result = %+v", got)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestRunTestContextCanceled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	marker := filepath.Join(dir, "started")
	done := make(chan gates.Result)
	go func() {
		done <- gates.RunTest(ctx, fleet.TestCommand{Name: "long", Command: "touch " + marker + "; exec sleep 60"}, target)
	}()
	poll(t, "the command to start", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	cancel(errors.New("release aborted"))
	select {
	case got := <-done:
		if got.OK || !strings.HasPrefix(got.Reason, "test long interrupted after ") || !strings.HasSuffix(got.Reason, ": release aborted") {
			t.Errorf("Result = OK %v, reason %q", got.OK, got.Reason)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunTest did not return after cancellation")
	}
}

func TestRunTestContextAlreadyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := gates.RunTest(ctx, fleet.TestCommand{Name: "never", Command: "echo ran"}, target)
	if diff := cmp.Diff(gates.Result{Reason: "test never interrupted before it started: context canceled"}, got); diff != "" {
		t.Errorf("RunTest (-want +got):\n%s", diff)
	}
}

func TestOutputEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"ApiUrl": "STACKFLEET_OUTPUT_APIURL", "api-url.v2": "STACKFLEET_OUTPUT_API_URL_V2", "Zé": "STACKFLEET_OUTPUT_Z_", "": "STACKFLEET_OUTPUT_",
	} {
		if got := gates.OutputEnvName(key); got != want {
			t.Errorf("OutputEnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid %q: %v", b, err)
	}
	return pid
}

// waitGone waits until pid is gone or a zombie (killed, not yet reaped by init).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	poll(t, "process "+strconv.Itoa(pid)+" to end", func() bool {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// The state is the field after "(comm)".
		i := strings.LastIndexByte(string(stat), ')')
		return err == nil && i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z")
	})
}

// poll checks cond every few milliseconds until it holds, failing t after 10 seconds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
