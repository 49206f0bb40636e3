package state_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pgtest"
	"github.com/stackfleet/stackfleet/internal/state"
)

// childEnv selects a child role when the test binary re-executes itself.
const childEnv = "STATE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		code := m.Run()
		if err := pgtest.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	case "hold":
		os.Exit(childHold())
	case "write":
		os.Exit(childWrite())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// openFromEnv opens the journal a child was given (backend.childEnv): the PostgreSQL database
// $STATE_PG, or else the state directory $STATE_DIR.
func openFromEnv(ctx context.Context) (*state.Store, error) {
	if dsn := os.Getenv("STATE_PG"); dsn != "" {
		return state.OpenPostgres(ctx, dsn, "")
	}
	return state.Open(ctx, os.Getenv("STATE_DIR"))
}

// childHold takes the lock of $STATE_SS for $STATE_OP, says "locked" and holds it until stdin
// closes.
func childHold() int {
	ctx := context.Background()
	s, err := openFromEnv(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	if _, err := s.Acquire(ctx, os.Getenv("STATE_SS"), os.Getenv("STATE_OP")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// Writer children update the steps of operation crashOp from crashWorkers goroutines; worker w
// owns the targets crashTarget(i) with i%crashWorkers == w. Each round finishes a step with its
// instance (reason = round number) and appends an event, then prints "account region round"
// once both have committed. The parent kills the child at some point.
const (
	crashOp      = "op-crash"
	crashSet     = "crash"
	crashTargets = 64
	crashWorkers = 16
)

func crashTarget(i int) fleet.Target {
	return fleet.Target{Account: fmt.Sprintf("%012d", i), Region: "eu-west-1"}
}

func childWrite() int {
	ctx := context.Background()
	s, err := openFromEnv(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex // one line per write(2), so the parent never sees half a line
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			for round := 1; ; round++ {
				for i := w; i < crashTargets; i += crashWorkers {
					t := crashTarget(i)
					r := strconv.Itoa(round)
					in := fleet.Instance{Owner: fleet.StackSetOwner(crashSet), Target: t, Status: fleet.Current, Detail: "SUCCEEDED", Reason: r}
					if err := s.FinishStep(ctx, crashOp, fleet.StepRecord{Target: t, Status: "SUCCEEDED", Reason: r}, &in); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					if err := s.AppendEvents(ctx, fleet.OperationEvent{Operation: crashOp, StackSet: crashSet,
						EventDetail: fleet.EventDetail{Kind: fleet.EventStep, Target: &t, Status: "SUCCEEDED", Reason: r}}); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					mu.Lock()
					fmt.Fprintf(os.Stdout, "%s %s %d\n", t.Account, t.Region, round)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// child starts the test binary in a child role with extra environment.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr *lockedBuffer
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	c := &child{cmd: cmd, lines: make(chan string, 1024), stderr: &lockedBuffer{}}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		// Ends the child whatever the test did; Wait after an earlier Wait just fails.
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// line waits (up to a deadline) for the next line of the child's stdout.
func (c *child) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("child exited without the expected output; stderr:\n%s", c.stderr)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("child said nothing for 30s; stderr:\n%s", c.stderr)
		return ""
	}
}

// kill9 kills the child with SIGKILL and reaps it, so that its pid is really gone.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
