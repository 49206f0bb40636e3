package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LockedError reports that another live process runs an operation on the stack set.
type LockedError struct {
	StackSet  string
	Operation string    // the running operation
	PID       int       // its process
	Host      string    // the host of that process
	Since     time.Time // when it took the lock
}

// Error names the running operation and its process, and says what to do.
func (e *LockedError) Error() string {
	return fmt.Sprintf("stack set %s is busy: operation %s is running (pid %d on %s, since %s); "+
		"wait for it to finish, or stop that process and run again to resume it",
		e.StackSet, e.Operation, e.PID, e.Host, e.Since.Local().Format("2006-01-02 15:04:05 MST"))
}

// Acquire takes the lock of stackSet for operation opID, held by this process. Only one
// operation per stack set runs at a time, across processes.
//
// If another live process holds the lock, Acquire returns a *LockedError. A holder on this host
// whose process is gone is stale: Acquire takes the lock over and returns the holder's operation
// id as previous, so that the caller can resume it (previous is "" otherwise). A holder on
// another host is always presumed live, as its process cannot be checked from here. Acquiring a
// lock this process already holds for opID succeeds and returns "".
//
// To resume an unfinished operation, acquire the lock with that operation's id (see Unfinished):
// if its process died, Acquire returns that same id as previous.
func (s *Store) Acquire(ctx context.Context, stackSet, opID string) (previous string, err error) {
	if stackSet == "" || opID == "" {
		return "", fmt.Errorf("acquire lock: stack set and operation are required (got %q, %q)", stackSet, opID)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		var held LockedError
		var start string
		var since int64
		err := tx.queryRow("SELECT operation, pid, host, process_start, since FROM locks WHERE stack_set = ?",
			stackSet).Scan(&held.Operation, &held.PID, &held.Host, &start, &since)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read lock: %w", err)
		case held.Operation == opID && held.PID == s.pid && held.Host == s.host && start == s.start:
			return nil
		case held.Host == s.host && !alive(held.PID, start):
			previous = held.Operation
		default:
			held.StackSet, held.Since = stackSet, time.Unix(0, since).UTC()
			return &held
		}
		_, err = tx.exec(`INSERT INTO locks (stack_set, operation, pid, host, process_start, since)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stack_set) DO UPDATE SET
	operation = excluded.operation, pid = excluded.pid, host = excluded.host, process_start = excluded.process_start, since = excluded.since`,
			stackSet, opID, s.pid, s.host, s.start, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("write lock: %w", err)
		}
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*LockedError](err); ok {
			return "", err
		}
		return "", fmt.Errorf("lock stack set %s: %w", stackSet, err)
	}
	return previous, nil
}

// Release gives up the lock of stackSet held for operation opID. Releasing a lock nobody holds
// is not an error; releasing one held for another operation is, and leaves it alone.
func (s *Store) Release(ctx context.Context, stackSet, opID string) error {
	return s.Update(ctx, func(tx *Tx) error {
		var holder string
		err := tx.queryRow("SELECT operation FROM locks WHERE stack_set = ?", stackSet).Scan(&holder)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("release lock of stack set %s: %w", stackSet, err)
		case holder != opID:
			return fmt.Errorf("release lock of stack set %s: it is held by operation %s, not %s", stackSet, holder, opID)
		}
		if _, err := tx.exec("DELETE FROM locks WHERE stack_set = ?", stackSet); err != nil {
			return fmt.Errorf("release lock of stack set %s: %w", stackSet, err)
		}
		return nil
	})
}
