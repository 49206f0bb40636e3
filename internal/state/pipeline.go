package state

// Release pipelines: releases with their position and the content they deploy, approvals, gate
// records and content-addressed template bodies. Everything a pipeline needs to resume after a
// crash, or to roll back, is here, so that neither depends on the configuration as it is now.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// DecidedError reports a second decision on a stage of a release. The first decision stands.
type DecidedError struct {
	First fleet.Approval
}

// Error names the first decision: who took it, when and why.
func (e *DecidedError) Error() string {
	verb := "rejected"
	if e.First.Approved {
		verb = "approved"
	}
	msg := fmt.Sprintf("stage %s of release %s was already %s", e.First.Stage, e.First.Release, verb)
	if e.First.By != "" {
		msg += " by " + e.First.By
	}
	if !e.First.At.IsZero() {
		msg += " at " + e.First.At.Local().Format("2006-01-02 15:04:05 MST")
	}
	if e.First.Comment != "" {
		msg += fmt.Sprintf(" (%q)", e.First.Comment)
	}
	return msg
}

const releaseColumns = "id, pipeline, version, status, stage, wave, phase, phase_since, created_at, ended_at, reason"

// scanRelease reads releaseColumns, then extra.
func scanRelease(sc interface{ Scan(...any) error }, extra ...any) (fleet.Release, error) {
	var r fleet.Release
	var status, phase string
	var since, created, ended sql.NullInt64
	err := sc.Scan(append([]any{&r.ID, &r.Pipeline, &r.Version, &status, &r.Position.Stage, &r.Position.Wave, &phase,
		&since, &created, &ended, &r.Reason}, extra...)...)
	r.Status, r.Position.Phase = fleet.ReleaseStatus(status), fleet.Phase(phase)
	r.Position.Since, r.CreatedAt, r.EndedAt = fromNanos(since), fromNanos(created), fromNanos(ended)
	return r, err
}

// CreateRelease records a new release and the content it deploys (the resolved pipeline spec,
// opaque JSON, kept byte for byte). The release id must be new.
func (tx *Tx) CreateRelease(r fleet.Release, content []byte) error {
	if r.ID == "" || r.Pipeline == "" || r.Status == "" {
		return fmt.Errorf("create release: id, pipeline and status are required (got %q, %q, %q)", r.ID, r.Pipeline, r.Status)
	}
	if len(content) == 0 {
		return fmt.Errorf("create release %s: content is required: resume and rollback read it", r.ID)
	}
	if err := validPosition(r.Position); err != nil {
		return fmt.Errorf("create release %s: %w", r.ID, err)
	}
	var exists int
	err := tx.queryRow("SELECT 1 FROM releases WHERE id = ?", r.ID).Scan(&exists)
	switch {
	case err == nil:
		return fmt.Errorf("create release %s: a release with that id already exists", r.ID)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("create release %s: %w", r.ID, err)
	}
	if _, err := tx.exec(`
INSERT INTO releases (id, pipeline, version, status, stage, wave, phase, phase_since, created_at, ended_at, reason, content)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Pipeline, r.Version, string(r.Status), r.Position.Stage, r.Position.Wave, string(r.Position.Phase),
		nanos(r.Position.Since), nanos(r.CreatedAt), nanos(r.EndedAt), r.Reason, content); err != nil {
		return fmt.Errorf("create release %s: %w", r.ID, err)
	}
	return nil
}

// UpdateRelease sets the status, position, end time (zero: not ended) and reason of release r.ID.
// Its pipeline, version, creation time and content never change.
func (tx *Tx) UpdateRelease(r fleet.Release) error {
	if r.Status == "" {
		return fmt.Errorf("update release %s: status is required", r.ID)
	}
	if err := validPosition(r.Position); err != nil {
		return fmt.Errorf("update release %s: %w", r.ID, err)
	}
	res, err := tx.exec(`
UPDATE releases SET status = ?, stage = ?, wave = ?, phase = ?, phase_since = ?, ended_at = ?, reason = ? WHERE id = ?`,
		string(r.Status), r.Position.Stage, r.Position.Wave, string(r.Position.Phase), nanos(r.Position.Since),
		nanos(r.EndedAt), r.Reason, r.ID)
	if err != nil {
		return fmt.Errorf("update release %s: %w", r.ID, err)
	}
	return mustAffect(res, "release %s: %w", r.ID)
}

func validPosition(p fleet.Position) error {
	if p.Stage < 0 || p.Wave < 0 {
		return fmt.Errorf("position stage %d wave %d: indexes must not be negative", p.Stage, p.Wave)
	}
	return nil
}

// ActiveReleases is Store.ActiveReleases inside the transaction, for writes that depend on the
// queue (a new release superseding queued ones, say) and must not race with another process.
func (tx *Tx) ActiveReleases(pipelineName string) ([]fleet.Release, error) {
	return activeReleases(tx.ctx, querier{tx.tx, tx.w.dialect}, pipelineName)
}

// Decide records the decision on a stage of a release. A second decision on the same stage is a
// *DecidedError naming the first, which stands; a decision on an unknown release is an error
// wrapping ErrNotFound.
func (tx *Tx) Decide(a fleet.Approval) error {
	if a.Release == "" || a.Stage == "" {
		return fmt.Errorf("decide: release and stage are required (got %q, %q)", a.Release, a.Stage)
	}
	first := fleet.Approval{Release: a.Release, Stage: a.Stage}
	var at sql.NullInt64
	err := tx.queryRow("SELECT approved, decided_by, comment, decided_at FROM approvals WHERE release = ? AND stage = ?",
		a.Release, a.Stage).Scan(&first.Approved, &first.By, &first.Comment, &at)
	switch {
	case err == nil:
		first.At = fromNanos(at)
		return &DecidedError{First: first}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("decide stage %s of release %s: %w", a.Stage, a.Release, err)
	}
	if err := tx.releaseExists(a.Release); err != nil {
		return fmt.Errorf("decide stage %s: %w", a.Stage, err)
	}
	if _, err := tx.exec("INSERT INTO approvals (release, stage, approved, decided_by, comment, decided_at) VALUES (?, ?, ?, ?, ?, ?)",
		a.Release, a.Stage, boolInt(a.Approved), a.By, a.Comment, nanos(a.At)); err != nil {
		return fmt.Errorf("decide stage %s of release %s: %w", a.Stage, a.Release, err)
	}
	return nil
}

// releaseExists returns an error wrapping ErrNotFound if there is no release id, so that callers
// get that rather than SQLite's anonymous foreign key failure.
func (tx *Tx) releaseExists(id string) error {
	var one int
	err := tx.queryRow("SELECT 1 FROM releases WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("release %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	return nil
}

// PutTemplate stores a template body under its hash, fleet.Hash(string(body)). Storing a body
// that is already there does nothing; a hash that is not the body's is refused, so that Template
// can be trusted to return what was hashed.
func (tx *Tx) PutTemplate(hash string, body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("put template %s: body is empty", hash)
	}
	if got := fleet.Hash(string(body)); got != hash {
		return fmt.Errorf("put template %s: that is not the hash of the body (%s)", hash, got)
	}
	// The database compares the blobs itself: an idempotent put does not copy the body out.
	var same bool
	err := tx.queryRow("SELECT body = ? FROM templates WHERE hash = ?", body, hash).Scan(&same)
	switch {
	case err == nil && same:
		return nil
	case err == nil:
		// Only a hash collision gets here.
		return fmt.Errorf("put template %s: a different body is stored under that hash", hash)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("put template %s: %w", hash, err)
	}
	if _, err := tx.exec("INSERT INTO templates (hash, body, stored_at) VALUES (?, ?, ?)", hash, body, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("put template %s: %w", hash, err)
	}
	return nil
}

// AddGateRecords appends gate records in the order given. Every record's release must exist.
func (tx *Tx) AddGateRecords(recs ...fleet.GateRecord) error {
	if len(recs) == 0 {
		return nil
	}
	checked := map[string]bool{}
	for _, g := range recs {
		if checked[g.Release] {
			continue
		}
		if g.Release == "" {
			return errors.New("add gate records: release is required")
		}
		if err := tx.releaseExists(g.Release); err != nil {
			return fmt.Errorf("add gate records: %w", err)
		}
		checked[g.Release] = true
	}
	stmt, err := tx.w.stmt(tx.ctx, tx.tx, `
INSERT INTO gate_records (release, stage, wave, gate, target, status, reason, output, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("add gate records: %w", err)
	}
	defer stmt.Close()
	for _, g := range recs {
		if _, err := stmt.ExecContext(tx.ctx, g.Release, g.Stage, g.Wave, g.Gate, g.Target, g.Status, g.Reason, g.Output, nanos(g.At)); err != nil {
			return fmt.Errorf("add gate records of release %s: %w", g.Release, err)
		}
	}
	return nil
}

// CreateRelease records a new release and its content (see Tx.CreateRelease).
func (s *Store) CreateRelease(ctx context.Context, r fleet.Release, content []byte) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.CreateRelease(r, content) })
}

// UpdateRelease sets the status, position, end time and reason of a release (see
// Tx.UpdateRelease). An unknown id is an error wrapping ErrNotFound.
func (s *Store) UpdateRelease(ctx context.Context, r fleet.Release) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.UpdateRelease(r) })
}

// ReleaseByID returns a release and the content stored with it. An unknown id is an error
// wrapping ErrNotFound. (Store.Release gives up a stack set lock.)
func (s *Store) ReleaseByID(ctx context.Context, id string) (fleet.Release, []byte, error) {
	var content []byte
	r, err := scanRelease(s.reads().queryRow(ctx, "SELECT "+releaseColumns+", content FROM releases WHERE id = ?", id), &content)
	if errors.Is(err, sql.ErrNoRows) {
		return fleet.Release{}, nil, fmt.Errorf("release %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fleet.Release{}, nil, wrapDBErr(s.path, "read release "+id, err)
	}
	return r, content, nil
}

// Releases returns the newest releases of a pipeline (at most limit; all if limit <= 0), newest
// first, without their content.
func (s *Store) Releases(ctx context.Context, pipelineName string, limit int) ([]fleet.Release, error) {
	rs, err := queryReleases(ctx, s.reads(), "SELECT "+releaseColumns+` FROM releases
WHERE pipeline = ? ORDER BY created_at DESC, n DESC LIMIT ?`, pipelineName, s.dialect.limit(limit))
	if err != nil {
		return nil, wrapDBErr(s.path, "read releases of pipeline "+pipelineName, err)
	}
	return rs, nil
}

// ActiveReleases returns the pipeline's releases that are not done (RUNNING and QUEUED), oldest
// first: the order in which they take the stages.
func (s *Store) ActiveReleases(ctx context.Context, pipelineName string) ([]fleet.Release, error) {
	rs, err := activeReleases(ctx, s.reads(), pipelineName)
	if err != nil {
		return nil, wrapDBErr(s.path, "read active releases of pipeline "+pipelineName, err)
	}
	return rs, nil
}

func activeReleases(ctx context.Context, q querier, pipelineName string) ([]fleet.Release, error) {
	return queryReleases(ctx, q, "SELECT "+releaseColumns+` FROM releases
WHERE pipeline = ? AND status IN (?, ?) ORDER BY created_at, n`, pipelineName, string(fleet.ReleaseQueued), string(fleet.ReleaseRunning))
}

func queryReleases(ctx context.Context, q querier, query string, args ...any) ([]fleet.Release, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []fleet.Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Decide records the decision on a stage of a release (see Tx.Decide): a second decision is a
// *DecidedError naming the first.
func (s *Store) Decide(ctx context.Context, a fleet.Approval) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.Decide(a) })
}

// Approval returns the decision on a stage of a release, or nil if there is none yet.
func (s *Store) Approval(ctx context.Context, releaseID, stage string) (*fleet.Approval, error) {
	a := fleet.Approval{Release: releaseID, Stage: stage}
	var at sql.NullInt64
	err := s.reads().queryRow(ctx, "SELECT approved, decided_by, comment, decided_at FROM approvals WHERE release = ? AND stage = ?",
		releaseID, stage).Scan(&a.Approved, &a.By, &a.Comment, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapDBErr(s.path, fmt.Sprintf("read approval of stage %s of release %s", stage, releaseID), err)
	}
	a.At = fromNanos(at)
	return &a, nil
}

// PutTemplate stores a template body under its hash (see Tx.PutTemplate); it is idempotent.
func (s *Store) PutTemplate(ctx context.Context, hash string, body []byte) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.PutTemplate(hash, body) })
}

// Template returns the body stored under hash. An unknown hash is an error wrapping ErrNotFound.
func (s *Store) Template(ctx context.Context, hash string) ([]byte, error) {
	var body []byte
	err := s.reads().queryRow(ctx, "SELECT body FROM templates WHERE hash = ?", hash).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("template %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return nil, wrapDBErr(s.path, "read template "+hash, err)
	}
	return body, nil
}

// AddGateRecords appends gate records, in the order given, in one transaction.
func (s *Store) AddGateRecords(ctx context.Context, recs ...fleet.GateRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.Update(ctx, func(tx *Tx) error { return tx.AddGateRecords(recs...) })
}

// GateRecords returns the gate records of a release in the order they were added.
func (s *Store) GateRecords(ctx context.Context, releaseID string) ([]fleet.GateRecord, error) {
	rows, err := s.reads().query(ctx, `
SELECT stage, wave, gate, target, status, reason, output, time FROM gate_records WHERE release = ? ORDER BY seq`, releaseID)
	if err != nil {
		return nil, wrapDBErr(s.path, "read gate records of release "+releaseID, err)
	}
	defer rows.Close()
	out := []fleet.GateRecord{}
	for rows.Next() {
		g := fleet.GateRecord{Release: releaseID}
		var at sql.NullInt64
		if err := rows.Scan(&g.Stage, &g.Wave, &g.Gate, &g.Target, &g.Status, &g.Reason, &g.Output, &at); err != nil {
			return nil, wrapDBErr(s.path, "read gate records of release "+releaseID, err)
		}
		g.At = fromNanos(at)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(s.path, "read gate records of release "+releaseID, err)
	}
	return out, nil
}
