package state_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/state"
)

var contains = strings.Contains

// rawDB opens the state database directly, for tests that must see or shape what the Store hides.
func rawDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, state.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestLockHeldByLiveProcessThenTakenOver(t *testing.T) {
	testLockHeldByLiveProcessThenTakenOver(t, sqliteBackend)
}

func testLockHeldByLiveProcessThenTakenOver(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.fresh(t)
	s := b.open(t, dir)
	c := startChild(t, "hold", b.childEnv(dir), "STATE_SS=web", "STATE_OP=op-child")
	if got := c.line(t); got != "locked" {
		t.Fatalf("child said %q, want locked", got)
	}

	before := time.Now()
	_, err := s.Acquire(ctx, "web", "op-mine")
	locked, ok := errors.AsType[*state.LockedError](err)
	if !ok {
		t.Fatalf("Acquire of a lock held by a live process: %v, want *LockedError", err)
	}
	host, _ := os.Hostname()
	if locked.StackSet != "web" || locked.Operation != "op-child" || locked.PID != c.cmd.Process.Pid || locked.Host != host ||
		locked.Since.After(before) || locked.Since.Before(before.Add(-time.Minute)) {
		t.Errorf("LockedError = %+v; want web, op-child, pid %d, host %s, since just before %v", *locked, c.cmd.Process.Pid, host, before)
	}
	for _, want := range []string{"stack set web is busy", "operation op-child is running", "wait for it to finish"} {
		if !contains(err.Error(), want) {
			t.Errorf("LockedError message %q does not say %q", err, want)
		}
	}
	// Other stack sets are free, and releasing someone else's lock is refused.
	if prev, err := s.Acquire(ctx, "api", "op-mine"); err != nil || prev != "" {
		t.Errorf("Acquire of a free lock = %q, %v; want \"\", nil", prev, err)
	}
	if err := s.Release(ctx, "web", "op-mine"); err == nil || !contains(err.Error(), "held by operation op-child") {
		t.Errorf("Release of another operation's lock: %v", err)
	}

	c.kill9(t)
	prev, err := s.Acquire(ctx, "web", "op-mine")
	if err != nil || prev != "op-child" {
		t.Fatalf("Acquire after the holder died = %q, %v; want op-child, nil", prev, err)
	}
	// Re-acquiring our own lock is a no-op; a second operation of ours is refused.
	if prev, err := s.Acquire(ctx, "web", "op-mine"); err != nil || prev != "" {
		t.Errorf("re-Acquire = %q, %v; want \"\", nil", prev, err)
	}
	if _, err := b.open(t, dir).Acquire(ctx, "web", "op-other"); !errors.As(err, new(*state.LockedError)) {
		t.Errorf("Acquire for another operation in the holder's process: %v, want *LockedError", err)
	}
	if err := s.Release(ctx, "web", "op-mine"); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "web", "op-mine"); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if prev, err := s.Acquire(ctx, "web", "op-next"); err != nil || prev != "" {
		t.Errorf("Acquire after Release = %q, %v; want \"\", nil", prev, err)
	}
}

func TestLockOfReusedPIDIsStale(t *testing.T) { testLockOfReusedPIDIsStale(t, sqliteBackend) }

func testLockOfReusedPIDIsStale(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	// A holder recorded with our own pid but another start time is a dead process whose pid was
	// reused (here: by us). A holder on another host is presumed live.
	host, _ := os.Hostname()
	if err := state.Exec(ctx, s, `INSERT INTO locks (stack_set, operation, pid, host, process_start, since) VALUES
		('reused', 'op-old', ?, ?, '1', 0), ('remote', 'op-far', ?, 'elsewhere.invalid', '', 0)`,
		os.Getpid(), host, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: process start times are unknown")
	}
	if prev, err := s.Acquire(ctx, "reused", "op-new"); err != nil || prev != "op-old" {
		t.Errorf("Acquire over a reused pid = %q, %v; want op-old, nil", prev, err)
	}
	if _, err := s.Acquire(ctx, "remote", "op-new"); !errors.As(err, new(*state.LockedError)) {
		t.Errorf("Acquire of a remote host's lock: %v, want *LockedError", err)
	}
}
