package gates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates/expand"
)

// Test-command defaults and limits.
const (
	// DefaultTestTimeout bounds a test command when TestCommand.Timeout is zero.
	DefaultTestTimeout = 10 * time.Minute
	// MaxTestOutput is how much of a test command's output Result.Output keeps (the end).
	MaxTestOutput = 64 << 10
	// drainTimeout bounds reading the output after the command and its process group are
	// gone, in case a process that left the group still holds the pipe.
	drainTimeout = 2 * time.Second
)

// RunTest runs tc for t: `sh -c tc.Command` in tc.Dir, with os.Environ() plus
// STACKFLEET_ACCOUNT, STACKFLEET_REGION, STACKFLEET_STACK and STACKFLEET_OUTPUT_<KEY> for every
// output (key upper-cased, characters other than ASCII letters and digits replaced by _). The
// command runs in its own process group, which is killed when tc.Timeout (default 10 min)
// passes, when ctx ends, and when the command exits (so no stray process outlives the test).
//
// Result.Output holds stdout and stderr interleaved, the last 64 KiB of it (after a marker
// line when earlier output was dropped). The Result is OK when the command exits 0; otherwise
// its Reason is "test <name> exited N", or says it timed out, was interrupted, was killed by a
// signal or could not start.
//
// The command is a template over the target, like health check URLs ({{.Account}},
// {{.Outputs.Url}}…); env is added to the command's environment (e.g. the target account's
// credentials).
func RunTest(ctx context.Context, tc fleet.TestCommand, t fleet.GateTarget, env ...string) Result {
	name := tc.Name
	if name == "" {
		name = fmt.Sprintf("%q", tc.Command)
	}
	timeout := tc.Timeout
	if timeout <= 0 {
		timeout = DefaultTestTimeout
	}
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errTestTimeout)
	defer cancel()

	// exec reports a missing Dir as a missing shell; say what is wrong instead.
	if tc.Dir != "" {
		if fi, err := os.Stat(tc.Dir); err != nil {
			return Result{Reason: fmt.Sprintf("test %s: directory: %v", name, err)}
		} else if !fi.IsDir() {
			return Result{Reason: fmt.Sprintf("test %s: directory: %s is not a directory", name, tc.Dir)}
		}
	}
	command, err := expand.Render(tc.Command, t)
	if err != nil {
		return Result{Reason: fmt.Sprintf("test %s: command: %v", name, err)}
	}
	cmd := exec.CommandContext(tctx, "sh", "-c", command)
	cmd.Dir = tc.Dir
	cmd.Env = append(append(os.Environ(), testEnv(t)...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// Stdout and stderr are one *os.File so that Wait does not wait for the pipe to close
	// (a background process may hold it); the output is read here instead.
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{Reason: fmt.Sprintf("test %s: output pipe: %v", name, err)}
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Stdin = nil // /dev/null: a test must not wait for input

	start := time.Now()
	err = cmd.Start()
	pw.Close() // the child has its copy; EOF comes when every process holding it is gone
	if err != nil {
		pr.Close()
		if ctx.Err() != nil {
			return Result{Reason: fmt.Sprintf("test %s interrupted before it started: %v", name, context.Cause(ctx))}
		}
		return Result{Reason: fmt.Sprintf("test %s: start: %v", name, err)}
	}
	var out tail
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, pr)
	}()

	err = cmd.Wait()
	elapsed := time.Since(start).Round(time.Millisecond)
	// Kill whatever the command left running in its group, then collect the rest of the
	// output; a process that escaped the group only costs drainTimeout.
	_ = killGroup(cmd.Process.Pid)
	drain := time.NewTimer(drainTimeout)
	select {
	case <-copied:
	case <-drain.C:
	}
	drain.Stop()
	pr.Close() // unblocks the copy if it is still reading
	<-copied

	res := Result{Output: out.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
		res.OK = true
		res.Reason = fmt.Sprintf("test %s passed in %s", name, elapsed)
	case ctx.Err() != nil:
		res.Reason = fmt.Sprintf("test %s interrupted after %s: %v", name, elapsed, context.Cause(ctx))
	case errors.Is(context.Cause(tctx), errTestTimeout):
		res.Reason = fmt.Sprintf("test %s timed out after %s", name, timeout)
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Reason = fmt.Sprintf("test %s killed by signal %v", name, ws.Signal())
		} else {
			res.Reason = fmt.Sprintf("test %s exited %d", name, exit.ExitCode())
		}
	default:
		res.Reason = fmt.Sprintf("test %s: %v", name, err)
	}
	return res
}

// errTestTimeout is the cancellation cause of a test command's own timeout.
var errTestTimeout = errors.New("test timeout")

// killGroup sends SIGKILL to the process group led by pid; a group already gone is not an
// error.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// testEnv is the environment a test command gets in addition to os.Environ(). Outputs come in
// key order so that two keys mapping to the same variable resolve the same way every time
// (the later one wins).
func testEnv(t fleet.GateTarget) []string {
	env := []string{
		"STACKFLEET_ACCOUNT=" + t.Account,
		"STACKFLEET_REGION=" + t.Region,
		"STACKFLEET_STACK=" + t.Stack,
	}
	for _, k := range slices.Sorted(maps.Keys(t.Outputs)) {
		env = append(env, OutputEnvName(k)+"="+t.Outputs[k])
	}
	return env
}

// OutputEnvName is the environment variable carrying the stack output key to test commands:
// STACKFLEET_OUTPUT_ followed by key upper-cased with every character other than an ASCII
// letter or digit replaced by '_'.
func OutputEnvName(key string) string {
	var b strings.Builder
	b.WriteString("STACKFLEET_OUTPUT_")
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// tail is an io.Writer keeping the last MaxTestOutput bytes written to it.
type tail struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim only when the buffer is twice the limit, so that copying stays amortized O(1) per byte.
	if len(t.buf) >= 2*MaxTestOutput {
		cut := len(t.buf) - MaxTestOutput
		t.dropped += int64(cut)
		t.buf = append(t.buf[:0], t.buf[cut:]...)
	}
	return len(p), nil
}

// String returns the kept output, starting at a character boundary, after a marker line if
// output was dropped.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, dropped := t.buf, t.dropped
	if cut := len(b) - MaxTestOutput; cut > 0 {
		b, dropped = b[cut:], dropped+int64(cut)
	}
	if dropped == 0 {
		return string(b)
	}
	// Skip a partial UTF-8 sequence at the cut (at most 3 continuation bytes).
	for i := 0; i < 3 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
		b, dropped = b[1:], dropped+1
	}
	return fmt.Sprintf("[… %d bytes of earlier output omitted …]\n", dropped) + string(b)
}
