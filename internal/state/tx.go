package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Tx is a write transaction handed to an Update function. Its writes become visible and durable
// together when Update returns nil. It is valid only during that function.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
	w   *writer
}

// Hot write statements, prepared once per Store.
const (
	sqlSavepoint   = "SAVEPOINT w"
	sqlRollbackTo  = "ROLLBACK TO w"
	sqlRelease     = "RELEASE w"
	sqlUpdateStep  = "UPDATE steps SET status = ?, reason = ?, updated_at = ? WHERE operation = ? AND account = ? AND region = ?"
	sqlPutInstance = `
INSERT INTO instances (config, owner_kind, owner, stack, region, account, stack_id, status, detail, reason, deployed, last_good, outputs, last_operation, updated_at, stack_changed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (owner_kind, owner, stack, region, account) DO UPDATE SET
	config = excluded.config, stack_id = excluded.stack_id, status = excluded.status, detail = excluded.detail, reason = excluded.reason,
	deployed = excluded.deployed, last_good = excluded.last_good, outputs = excluded.outputs,
	last_operation = excluded.last_operation, updated_at = excluded.updated_at, stack_changed = excluded.stack_changed`
	sqlAppendEvent = `
INSERT INTO events (source, operation, stack_set, stack, time, kind, account, region, status, reason, logical_id, resource_type)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Sources of events (events.source).
const (
	sourceOperation = "operation"
	sourceRelease   = "release"
)

var hotQueries = []string{sqlSavepoint, sqlRollbackTo, sqlRelease, sqlUpdateStep, sqlPutInstance, sqlAppendEvent}

// exec runs a write statement, through the writer's cache if it is a hot one.
func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, ok := tx.w.stmts[query]
	if !ok {
		return tx.tx.ExecContext(tx.ctx, tx.w.dialect.rebind(query), args...)
	}
	tst := tx.tx.StmtContext(tx.ctx, st)
	defer tst.Close()
	return tst.ExecContext(tx.ctx, args...)
}

// queryRow runs a query in the write transaction.
func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.ctx, tx.w.dialect.rebind(query), args...)
}

// CreateOperation records a new operation, its plan and its steps (in plan order). The operation
// id must be new, and each target may appear in one step only.
func (tx *Tx) CreateOperation(op fleet.Operation, steps []fleet.StepRecord) error {
	if op.ID == "" || op.StackSet == "" {
		return fmt.Errorf("create operation: id and stack set are required (got %q, %q)", op.ID, op.StackSet)
	}
	plan, err := json.Marshal(op.Plan)
	if err != nil {
		return fmt.Errorf("create operation %s: encode plan: %w", op.ID, err)
	}
	var exists int
	err = tx.queryRow("SELECT 1 FROM operations WHERE id = ?", op.ID).Scan(&exists)
	switch {
	case err == nil:
		return fmt.Errorf("create operation %s: an operation with that id already exists", op.ID)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("create operation %s: %w", op.ID, err)
	}
	if _, err := tx.exec(
		`INSERT INTO operations (id, config, stack_set, status, plan, started_at, ended_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		op.ID, tx.w.config, op.StackSet, string(op.Status), string(plan), nanos(op.StartedAt), nanos(op.EndedAt), op.Reason); err != nil {
		return fmt.Errorf("create operation %s: %w", op.ID, err)
	}
	if len(steps) == 0 {
		return nil
	}
	stmt, err := tx.w.stmt(tx.ctx, tx.tx,
		`INSERT INTO steps (operation, account, region, idx, status, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("create operation %s: %w", op.ID, err)
	}
	defer stmt.Close()
	for i, st := range steps {
		res, err := stmt.ExecContext(tx.ctx, op.ID, st.Target.Account, st.Target.Region, i, st.Status, st.Reason, nanos(st.UpdatedAt))
		if err != nil {
			return fmt.Errorf("create operation %s: step %s: %w", op.ID, st.Target, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("create operation %s: target %s has more than one step", op.ID, st.Target)
		}
	}
	return nil
}

// UpdateOperation sets the status, reason and end time (zero: not ended) of an operation.
func (tx *Tx) UpdateOperation(id string, status fleet.OperationStatus, reason string, ended time.Time) error {
	res, err := tx.exec("UPDATE operations SET status = ?, reason = ?, ended_at = ? WHERE id = ?",
		string(status), reason, nanos(ended), id)
	if err != nil {
		return fmt.Errorf("update operation %s: %w", id, err)
	}
	return mustAffect(res, "operation %s: %w", id)
}

// UpdateStep sets the status, reason and update time of the step of operation opID for
// rec.Target.
func (tx *Tx) UpdateStep(opID string, rec fleet.StepRecord) error {
	res, err := tx.exec(sqlUpdateStep, rec.Status, rec.Reason, nanos(rec.UpdatedAt), opID, rec.Target.Account, rec.Target.Region)
	if err != nil {
		return fmt.Errorf("update step %s of operation %s: %w", rec.Target, opID, err)
	}
	return mustAffect(res, "step %s of operation %s: %w", rec.Target, opID)
}

// PutInstance inserts or replaces the instance of (in.Owner, in.Target), recording it as the
// Store's configuration's.
func (tx *Tx) PutInstance(in fleet.Instance) error {
	if err := in.Owner.Validate(); err != nil || in.Target.Account == "" || in.Target.Region == "" {
		return fmt.Errorf("put instance: owner, account and region are required (got %s, %s)", in.Owner, in.Target)
	}
	deployed, err := json.Marshal(in.Deployed)
	if err != nil {
		return fmt.Errorf("put instance of %s in %s: encode version: %w", in.Owner, in.Target, err)
	}
	lastGood, err := nullJSON(in.LastGood, in.LastGood == nil)
	if err != nil {
		return fmt.Errorf("put instance of %s in %s: encode last good version: %w", in.Owner, in.Target, err)
	}
	outputs, err := nullJSON(in.Outputs, in.Outputs == nil)
	if err != nil {
		return fmt.Errorf("put instance of %s in %s: encode outputs: %w", in.Owner, in.Target, err)
	}
	_, err = tx.exec(sqlPutInstance, tx.w.config, string(in.Owner.Kind), in.Owner.Name, in.Owner.Stack,
		in.Target.Region, in.Target.Account, in.StackID, string(in.Status), string(in.Detail), in.Reason,
		string(deployed), lastGood, outputs, in.LastOperation, nanos(in.UpdatedAt), nanos(in.StackChanged))
	if err != nil {
		return fmt.Errorf("put instance of %s in %s: %w", in.Owner, in.Target, err)
	}
	return nil
}

// DeleteInstance forgets the instance of owner in t; forgetting an unknown instance is not an
// error.
func (tx *Tx) DeleteInstance(owner fleet.Owner, t fleet.Target) error {
	if _, err := tx.exec("DELETE FROM instances WHERE owner_kind = ? AND owner = ? AND stack = ? AND region = ? AND account = ?",
		string(owner.Kind), owner.Name, owner.Stack, t.Region, t.Account); err != nil {
		return fmt.Errorf("delete instance of %s in %s: %w", owner, t, err)
	}
	return nil
}

// AppendEvents adds events to the journal in the order given.
func (tx *Tx) AppendEvents(evs ...fleet.Event) error {
	if len(evs) == 0 {
		return nil
	}
	stmt, err := tx.w.stmt(tx.ctx, tx.tx, sqlAppendEvent)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	defer stmt.Close()
	for _, e := range evs {
		// The events table keeps whose event it is in operation (an operation or release id) and
		// stack_set (a stack set or pipeline name), told apart by source.
		var source, id, owner, stack string
		switch e := e.(type) {
		case fleet.OperationEvent:
			source, id, owner = sourceOperation, e.Operation, e.StackSet
		case fleet.ReleaseEvent:
			source, id, owner, stack = sourceRelease, e.Release, e.Pipeline, e.Stack
		default:
			return fmt.Errorf("append events: unknown event type %T", e)
		}
		ev := e.Detail()
		var account, region any
		if ev.Target != nil {
			account, region = ev.Target.Account, ev.Target.Region
		}
		if _, err := stmt.ExecContext(tx.ctx, source, id, owner, stack, nanos(ev.Time), ev.Kind, account, region,
			ev.Status, ev.Reason, ev.LogicalID, ev.ResourceType); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return nil
}

// CreateOperation records a new operation and its steps in one transaction (see
// Tx.CreateOperation).
func (s *Store) CreateOperation(ctx context.Context, op fleet.Operation, steps []fleet.StepRecord) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.CreateOperation(op, steps) })
}

// UpdateOperation sets the status, reason and end time (zero: not ended) of an operation.
func (s *Store) UpdateOperation(ctx context.Context, id string, status fleet.OperationStatus, reason string, ended time.Time) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.UpdateOperation(id, status, reason, ended) })
}

// UpdateStep records the status of one step of operation opID.
func (s *Store) UpdateStep(ctx context.Context, opID string, rec fleet.StepRecord) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.UpdateStep(opID, rec) })
}

// FinishStep records the final status of a step together with the instance row it produced, in
// one transaction: whoever sees the step final also sees its instance. A nil in leaves the
// instance alone; use Update with DeleteInstance for steps that remove their instance.
func (s *Store) FinishStep(ctx context.Context, opID string, rec fleet.StepRecord, in *fleet.Instance) error {
	return s.Update(ctx, func(tx *Tx) error {
		if err := tx.UpdateStep(opID, rec); err != nil {
			return err
		}
		if in == nil {
			return nil
		}
		return tx.PutInstance(*in)
	})
}

// PutInstance inserts or replaces an instance.
func (s *Store) PutInstance(ctx context.Context, in fleet.Instance) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.PutInstance(in) })
}

// DeleteInstance forgets an instance; forgetting an unknown instance is not an error.
func (s *Store) DeleteInstance(ctx context.Context, owner fleet.Owner, t fleet.Target) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.DeleteInstance(owner, t) })
}

// AppendEvents adds events to the journal, in the order given, in one transaction.
func (s *Store) AppendEvents(ctx context.Context, evs ...fleet.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return s.Update(ctx, func(tx *Tx) error { return tx.AppendEvents(evs...) })
}

func mustAffect(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf(format, append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf(format, append(args, ErrNotFound)...)
	}
	return nil
}

// nanos is the column value of a time: Unix nanoseconds, or NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNanos inverts nanos; times come back in UTC.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nullJSON encodes v, or NULL when isNil, so that nil and empty maps survive a round trip.
func nullJSON(v any, isNil bool) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
