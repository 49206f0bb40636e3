package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

const operationColumns = "id, stack_set, status, plan, started_at, ended_at, reason"

func scanOperation(sc interface{ Scan(...any) error }) (fleet.Operation, error) {
	var op fleet.Operation
	var status, plan string
	var started, ended sql.NullInt64
	if err := sc.Scan(&op.ID, &op.StackSet, &status, &plan, &started, &ended, &op.Reason); err != nil {
		return op, err
	}
	op.Status = fleet.OperationStatus(status)
	op.StartedAt, op.EndedAt = fromNanos(started), fromNanos(ended)
	if err := json.Unmarshal([]byte(plan), &op.Plan); err != nil {
		return op, fmt.Errorf("decode plan of operation %s: %w", op.ID, err)
	}
	return op, nil
}

// Operation returns an operation and its steps in plan order. An unknown id is an error wrapping
// ErrNotFound.
func (s *Store) Operation(ctx context.Context, id string) (fleet.Operation, []fleet.StepRecord, error) {
	// One read transaction, so the steps belong to the same snapshot as the operation.
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read operation "+id, err)
	}
	defer tx.Rollback()
	op, err := scanOperation(tx.QueryRowContext(ctx, "SELECT "+operationColumns+" FROM operations WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return fleet.Operation{}, nil, fmt.Errorf("operation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read operation "+id, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT account, region, status, reason, updated_at FROM steps WHERE operation = ? ORDER BY idx", id)
	if err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read steps of operation "+id, err)
	}
	defer rows.Close()
	steps := []fleet.StepRecord{}
	for rows.Next() {
		var st fleet.StepRecord
		var updated sql.NullInt64
		if err := rows.Scan(&st.Target.Account, &st.Target.Region, &st.Status, &st.Reason, &updated); err != nil {
			return fleet.Operation{}, nil, wrapDBErr(s.path, "read steps of operation "+id, err)
		}
		st.UpdatedAt = fromNanos(updated)
		steps = append(steps, st)
	}
	if err := rows.Err(); err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read steps of operation "+id, err)
	}
	return op, steps, nil
}

// Unfinished returns the newest RUNNING or STOPPED operation of a stack set, or nil if every
// operation of it is done. A RUNNING operation may belong to a live process: take the stack
// set's lock (Acquire with this operation's id) before resuming it.
func (s *Store) Unfinished(ctx context.Context, stackSet string) (*fleet.Operation, error) {
	op, err := scanOperation(s.read.QueryRowContext(ctx, "SELECT "+operationColumns+` FROM operations
WHERE stack_set = ? AND status IN (?, ?) ORDER BY started_at DESC, n DESC LIMIT 1`,
		stackSet, string(fleet.OpRunning), string(fleet.OpStopped)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapDBErr(s.path, "read unfinished operation of "+stackSet, err)
	}
	return &op, nil
}

// Operations returns the newest operations of a stack set (at most limit; all if limit <= 0),
// newest first, with their plans but without their steps.
func (s *Store) Operations(ctx context.Context, stackSet string, limit int) ([]fleet.Operation, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+operationColumns+` FROM operations
WHERE stack_set = ? ORDER BY started_at DESC, n DESC LIMIT ?`, stackSet, limit)
	if err != nil {
		return nil, wrapDBErr(s.path, "read operations of "+stackSet, err)
	}
	defer rows.Close()
	ops := []fleet.Operation{}
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, wrapDBErr(s.path, "read operations of "+stackSet, err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, "read operations of "+stackSet, err)
	}
	return ops, nil
}

// Instances returns the instances of a stack set sorted by region, then account.
func (s *Store) Instances(ctx context.Context, stackSet string) ([]fleet.Instance, error) {
	rows, err := s.read.QueryContext(ctx, `
SELECT region, account, stack_id, status, detail, reason, deployed, last_good, outputs, last_operation, updated_at
FROM instances WHERE stack_set = ? ORDER BY region, account`, stackSet)
	if err != nil {
		return nil, wrapDBErr(s.path, "read instances of "+stackSet, err)
	}
	defer rows.Close()
	out := []fleet.Instance{}
	for rows.Next() {
		in := fleet.Instance{StackSet: stackSet}
		var status, deployed string
		var lastGood, outputs sql.NullString
		var updated sql.NullInt64
		if err := rows.Scan(&in.Target.Region, &in.Target.Account, &in.StackID, &status, &in.Detail, &in.Reason,
			&deployed, &lastGood, &outputs, &in.LastOperation, &updated); err != nil {
			return nil, wrapDBErr(s.path, "read instances of "+stackSet, err)
		}
		in.Status = fleet.InstanceStatus(status)
		in.UpdatedAt = fromNanos(updated)
		if err := json.Unmarshal([]byte(deployed), &in.Deployed); err != nil {
			return nil, fmt.Errorf("read instance %s %s: decode version: %w", stackSet, in.Target, err)
		}
		if lastGood.Valid {
			in.LastGood = new(fleet.Version)
			if err := json.Unmarshal([]byte(lastGood.String), in.LastGood); err != nil {
				return nil, fmt.Errorf("read instance %s %s: decode last good version: %w", stackSet, in.Target, err)
			}
		}
		if outputs.Valid {
			if err := json.Unmarshal([]byte(outputs.String), &in.Outputs); err != nil {
				return nil, fmt.Errorf("read instance %s %s: decode outputs: %w", stackSet, in.Target, err)
			}
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, "read instances of "+stackSet, err)
	}
	return out, nil
}

// StackSets returns, sorted, the names of the stack sets that have instances or operations.
func (s *Store) StackSets(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT stack_set FROM instances UNION SELECT stack_set FROM operations ORDER BY 1")
	if err != nil {
		return nil, wrapDBErr(s.path, "read stack sets", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, wrapDBErr(s.path, "read stack sets", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, "read stack sets", err)
	}
	return names, nil
}

// Events returns the journal entries of operation opID (of every operation if opID is empty)
// that come after sequence number afterSeq, oldest first, at most limit of them (all if limit
// <= 0). last is the sequence number of the last event returned, or afterSeq if none: pass it
// back as afterSeq to follow the journal. Sequence numbers increase and are never reused.
func (s *Store) Events(ctx context.Context, opID string, afterSeq int64, limit int) (evs []fleet.Event, last int64, err error) {
	if limit <= 0 {
		limit = -1
	}
	const cols = "seq, operation, stack_set, time, kind, account, region, status, reason, logical_id, resource_type"
	var rows *sql.Rows
	if opID == "" {
		rows, err = s.read.QueryContext(ctx, "SELECT "+cols+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
	} else {
		rows, err = s.read.QueryContext(ctx, "SELECT "+cols+" FROM events WHERE operation = ? AND seq > ? ORDER BY seq LIMIT ?", opID, afterSeq, limit)
	}
	if err != nil {
		return nil, afterSeq, wrapDBErr(s.path, "read events", err)
	}
	defer rows.Close()
	evs, last = []fleet.Event{}, afterSeq
	for rows.Next() {
		var ev fleet.Event
		var t sql.NullInt64
		var account, region sql.NullString
		if err := rows.Scan(&last, &ev.Operation, &ev.StackSet, &t, &ev.Kind, &account, &region, &ev.Status, &ev.Reason,
			&ev.LogicalID, &ev.ResourceType); err != nil {
			return nil, afterSeq, wrapDBErr(s.path, "read events", err)
		}
		ev.Time = fromNanos(t)
		if account.Valid || region.Valid {
			ev.Target = &fleet.Target{Account: account.String, Region: region.String}
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, wrapDBErr(s.path, "read events", err)
	}
	return evs, last, nil
}
