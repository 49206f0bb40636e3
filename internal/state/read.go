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
	tx, err := s.read.BeginTx(ctx, s.dialect.readTx)
	if err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read operation "+id, err)
	}
	defer tx.Rollback()
	q := querier{tx, s.dialect}
	op, err := scanOperation(q.queryRow(ctx, "SELECT "+operationColumns+" FROM operations WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return fleet.Operation{}, nil, fmt.Errorf("operation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fleet.Operation{}, nil, wrapDBErr(s.path, "read operation "+id, err)
	}
	rows, err := q.query(ctx, "SELECT account, region, status, reason, updated_at FROM steps WHERE operation = ? ORDER BY idx", id)
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
	op, err := scanOperation(s.reads().queryRow(ctx, "SELECT "+operationColumns+` FROM operations
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
	rows, err := s.reads().query(ctx, "SELECT "+operationColumns+` FROM operations
WHERE stack_set = ? ORDER BY started_at DESC, n DESC LIMIT ?`, stackSet, s.dialect.limit(limit))
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

// Instances returns the instances of owner sorted by region, then account, whichever
// configuration recorded them.
func (s *Store) Instances(ctx context.Context, owner fleet.Owner) ([]fleet.Instance, error) {
	what := "read instances of " + owner.String()
	rows, err := s.reads().query(ctx, `
SELECT region, account, stack_id, status, detail, reason, deployed, last_good, outputs, last_operation, updated_at, stack_changed
FROM instances WHERE owner_kind = ? AND owner = ? AND stack = ? ORDER BY region, account`,
		string(owner.Kind), owner.Name, owner.Stack)
	if err != nil {
		return nil, wrapDBErr(s.path, what, err)
	}
	defer rows.Close()
	out := []fleet.Instance{}
	for rows.Next() {
		in := fleet.Instance{Owner: owner}
		if err := scanInstance(rows, &in); err != nil {
			return nil, wrapDBErr(s.path, what, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, what, err)
	}
	return out, nil
}

// scanInstance reads one row of the columns Instances selects into in.
func scanInstance(rows *sql.Rows, in *fleet.Instance) error {
	var status, detail, deployed string
	var lastGood, outputs sql.NullString
	var updated, changed sql.NullInt64
	if err := rows.Scan(&in.Target.Region, &in.Target.Account, &in.StackID, &status, &detail, &in.Reason,
		&deployed, &lastGood, &outputs, &in.LastOperation, &updated, &changed); err != nil {
		return err
	}
	in.Status, in.Detail = fleet.InstanceStatus(status), fleet.StepStatus(detail)
	in.UpdatedAt, in.StackChanged = fromNanos(updated), fromNanos(changed)
	if err := json.Unmarshal([]byte(deployed), &in.Deployed); err != nil {
		return fmt.Errorf("instance of %s in %s: decode version: %w", in.Owner, in.Target, err)
	}
	if lastGood.Valid {
		in.LastGood = new(fleet.Version)
		if err := json.Unmarshal([]byte(lastGood.String), in.LastGood); err != nil {
			return fmt.Errorf("instance of %s in %s: decode last good version: %w", in.Owner, in.Target, err)
		}
	}
	if outputs.Valid {
		if err := json.Unmarshal([]byte(outputs.String), &in.Outputs); err != nil {
			return fmt.Errorf("instance of %s in %s: decode outputs: %w", in.Owner, in.Target, err)
		}
	}
	return nil
}

// OwnerRecord is an owner the state knows and the configuration file that recorded it.
type OwnerRecord struct {
	Owner fleet.Owner
	// Config is the configuration file whose apply or release recorded the owner's instances.
	Config string
}

// Owners returns every owner with recorded instances, and every stack set with operations,
// sorted by kind, name and stack. An owner recorded by two configs (which the CLI refuses to
// let happen) is listed once per config.
func (s *Store) Owners(ctx context.Context) ([]OwnerRecord, error) {
	rows, err := s.reads().query(ctx, `
SELECT owner_kind, owner, stack, config FROM instances
UNION SELECT 'stack-set', stack_set, '', config FROM operations
ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, wrapDBErr(s.path, "read owners", err)
	}
	defer rows.Close()
	out := []OwnerRecord{}
	for rows.Next() {
		var r OwnerRecord
		var kind string
		if err := rows.Scan(&kind, &r.Owner.Name, &r.Owner.Stack, &r.Config); err != nil {
			return nil, wrapDBErr(s.path, "read owners", err)
		}
		r.Owner.Kind = fleet.OwnerKind(kind)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, "read owners", err)
	}
	return out, nil
}

// LastEventSeq is the sequence number of the newest journal entry (0 when there is none): where
// a reader that wants only what comes next starts following Events.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.reads().queryRow(ctx, "SELECT coalesce(max(seq), 0) FROM events").Scan(&seq); err != nil {
		return 0, wrapDBErr(s.path, "read events", err)
	}
	return seq, nil
}

// Events returns the journal entries of operation opID (of every operation if opID is empty)
// that come after sequence number afterSeq, oldest first, at most limit of them (all if limit
// <= 0). last is the sequence number of the last event returned, or afterSeq if none: pass it
// back as afterSeq to follow the journal. Sequence numbers increase and are never reused.
func (s *Store) Events(ctx context.Context, opID string, afterSeq int64, limit int) (evs []fleet.Event, last int64, err error) {
	const cols = "seq, source, operation, stack_set, stack, time, kind, account, region, status, reason, logical_id, resource_type"
	var rows *sql.Rows
	if opID == "" {
		rows, err = s.reads().query(ctx, "SELECT "+cols+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, s.dialect.limit(limit))
	} else {
		rows, err = s.reads().query(ctx, "SELECT "+cols+" FROM events WHERE operation = ? AND seq > ? ORDER BY seq LIMIT ?", opID, afterSeq, s.dialect.limit(limit))
	}
	if err != nil {
		return nil, afterSeq, wrapDBErr(s.path, "read events", err)
	}
	defer rows.Close()
	evs, last = []fleet.Event{}, afterSeq
	for rows.Next() {
		var ev fleet.EventDetail
		var source, id, owner, stack string
		var t sql.NullInt64
		var account, region sql.NullString
		if err := rows.Scan(&last, &source, &id, &owner, &stack, &t, &ev.Kind, &account, &region, &ev.Status, &ev.Reason,
			&ev.LogicalID, &ev.ResourceType); err != nil {
			return nil, afterSeq, wrapDBErr(s.path, "read events", err)
		}
		ev.Time = fromNanos(t)
		if account.Valid || region.Valid {
			ev.Target = &fleet.Target{Account: account.String, Region: region.String}
		}
		if source == sourceRelease {
			evs = append(evs, fleet.ReleaseEvent{Release: id, Pipeline: owner, Stack: stack, EventDetail: ev})
		} else {
			evs = append(evs, fleet.OperationEvent{Operation: id, StackSet: owner, EventDetail: ev})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, wrapDBErr(s.path, "read events", err)
	}
	return evs, last, nil
}
