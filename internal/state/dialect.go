package state

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// A dialect is what differs between the databases a Store can keep the journal in. Every query
// is written once, with ? placeholders, in SQL that SQLite and PostgreSQL both accept; only the
// schema (schema.go) and a few SQLite-only statements (PRAGMAs, VACUUM INTO, sqlite_master) exist
// per database. Queries reach the database through Tx.exec, Tx.queryRow, writer.stmt and
// querier, which rebind the placeholders.
type dialect struct {
	name string
	// numbered: the database numbers its placeholders ($1, $2, …) instead of taking ?.
	numbered bool
	// lockWrites, when set, runs first in every write transaction and holds until its commit, so
	// that write transactions of every process run one at a time (on SQLite, BEGIN IMMEDIATE does).
	lockWrites string
	// noLimit is the LIMIT argument that means no limit.
	noLimit any
	// readTx are the options of a read transaction whose queries must all see one snapshot.
	readTx *sql.TxOptions
	// tables lists the database's tables by name (stackfleet's or another application's).
	tables string
}

var sqliteDialect = &dialect{
	name:    "sqlite",
	noLimit: -1,
	readTx:  &sql.TxOptions{ReadOnly: true},
	tables:  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
}

// pgWriteLock is the key of the advisory lock that every write transaction on PostgreSQL takes
// ("stkfleet" in ASCII). Advisory locks are per database, so journals in two databases of one
// server never wait for each other.
const pgWriteLock = 0x73746b666c656574

var postgresDialect = &dialect{
	name:     "postgres",
	numbered: true,
	// Taken at the start of every write transaction, the lock makes PostgreSQL's writers queue as
	// SQLite's do. It also makes the order of events.seq the order of commits: an identity value
	// is drawn when its row is inserted, not when it commits, so without the lock a transaction
	// could commit seq 10 after another committed seq 11, and a reader tailing "seq > 10" would
	// never see it. Write transactions stay READ COMMITTED so that each statement after the lock
	// sees everything committed before it was granted (a REPEATABLE READ snapshot would predate
	// it).
	lockWrites: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgWriteLock, 10) + ")",
	noLimit:    nil, // LIMIT NULL; PostgreSQL refuses a negative limit
	// READ COMMITTED would give each statement of the transaction its own snapshot.
	readTx: &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	tables: "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
}

// rebind rewrites the ? placeholders of query into the dialect's. A ? inside a string literal is
// left alone; the queries have no comments or quoted identifiers holding one.
func (d *dialect) rebind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := range len(query) {
		switch c := query[i]; {
		case c == '\'':
			quoted = !quoted // '' inside a literal toggles twice
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// limit is the LIMIT argument for at most n rows, all of them if n <= 0.
func (d *dialect) limit(n int) any {
	if n <= 0 {
		return d.noLimit
	}
	return n
}

// querier runs queries written with ? placeholders on a read pool (*sql.DB) or in a transaction
// (*sql.Tx), in that database's dialect.
type querier struct {
	db interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	d *dialect
}

func (q querier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, q.d.rebind(query), args...)
}

func (q querier) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, q.d.rebind(query), args...)
}

// reads is the read pool.
func (s *Store) reads() querier { return querier{s.read, s.dialect} }

// boolInt is the column value of a boolean, kept as an integer 0 or 1 in both databases.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
