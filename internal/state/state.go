// Package state keeps stackfleet's durable state — locks, operations and their steps, stack
// instances, the event journal and release pipelines — in one SQLite database, <dir>/state.db,
// using the pure-Go modernc.org/sqlite driver, or in a PostgreSQL database that a team shares
// (OpenPostgres, through pgx). Callers see the same Store either way; dialect.go holds what
// differs.
//
// Several stackfleet processes may use the same database at once and any of them may be killed
// at any moment, so the database runs in WAL mode with synchronous=FULL: a write that returned
// is on disk, and a crash never leaves a half-applied transaction. Within a process every write
// goes through one writer goroutine that owns the only write connection and commits whatever
// writes are waiting in one transaction (group commit), each write in its own savepoint; the
// cost of a commit (one fsync) is shared by all the goroutines that wrote meanwhile. Write
// transactions begin IMMEDIATE, so processes queue for the write lock under busy_timeout instead
// of failing on a read-to-write upgrade. Reads use a separate pool and see committed data only.
//
// On PostgreSQL the same writer goroutine does group commit on one connection; every write
// transaction first takes an advisory lock, which queues the writers of every process as
// IMMEDIATE does (postgres.go).
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the name of the database file inside the state directory.
const FileName = "state.db"

// busyTimeout is how long a transaction waits for another process's write lock. Write
// transactions are short (one batch), so a longer wait means that process is stuck.
const busyTimeout = 30 * time.Second

// maxBatch bounds the writes committed in one transaction, so that another process waiting for
// the write lock never waits behind an unbounded backlog.
const maxBatch = 512

// ErrNotFound is wrapped by errors about an operation, step or other record that does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by writes to a closed Store.
var ErrClosed = errors.New("state store is closed")

// Store is an open state database. Its methods are safe for concurrent use by many goroutines,
// and several Stores (in one process or several) may use the same directory at once.
type Store struct {
	path    string // the database file, or the PostgreSQL database without its password
	dialect *dialect
	// config names the configuration file this Store acts for: the instances and operations it
	// records are that config's ("" for tools and tests that act for none).
	config string
	write  *sql.DB // exactly one connection, used only by the writer goroutine
	read   *sql.DB
	writer *writer

	// Identity of this process, recorded in the locks it holds.
	pid   int
	host  string
	start string // process start time (/proc), distinguishes a reused pid; "" if unknown
}

// Open opens (creating if needed) <dir>/state.db with WAL, busy_timeout and foreign keys, and
// migrates the schema to the version this build knows. It refuses a database written by a newer
// stackfleet. The directory and database are created readable by the owner only: plans hold
// parameter values.
func Open(ctx context.Context, dir string) (*Store, error) { return OpenFor(ctx, dir, "") }

// OpenFor is Open for the configuration file named config (its base name: the state directory
// sits next to it). Instances recorded before configs had their own namespace are claimed by
// the first configuration that opens the state.
func OpenFor(ctx context.Context, dir, config string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	path := filepath.Join(abs, FileName)
	// The driver reads everything after '?' as parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("state database %s: path must not contain '?'", path)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	switch fi, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(ctx, path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("open state database: %w", err)
	case fi.Size() == 0:
		// SQLite would take an empty file for a new database, and stackfleet would forget every
		// stack it deployed: a truncated state is refused.
		return nil, fmt.Errorf("state database %s is empty (0 bytes): it was truncated or is not stackfleet's; "+
			"restore it from a backup, or move it away to start with no recorded instances", path)
	}

	host, _ := os.Hostname()
	s := &Store{path: path, dialect: sqliteDialect, config: config, pid: os.Getpid(), host: host, start: processStart(os.Getpid())}
	common := fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	s.write, err = sql.Open("sqlite", path+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.init(ctx); err != nil {
		s.write.Close()
		return nil, err
	}
	// query_only guards the read pool against ever taking the write lock.
	s.read, err = sql.Open("sqlite", path+common+"&_pragma=query_only(1)")
	if err != nil {
		s.write.Close()
		return nil, fmt.Errorf("open state database: %w", err)
	}
	s.read.SetMaxOpenConns(4)
	s.read.SetMaxIdleConns(4)
	if s.writer, err = newWriter(ctx, s.write, s.dialect, path, config); err != nil {
		s.read.Close()
		s.write.Close()
		return nil, err
	}
	return s, nil
}

// create makes a new state database at path, whole or not at all: it is built under a temporary
// name and linked into place, so no process ever opens a half-made (empty) database, and of two
// processes creating it at once one wins and the other opens the winner's.
func create(ctx context.Context, path string) error {
	tmp := fmt.Sprintf("%s.new-%d-%d", path, os.Getpid(), time.Now().UnixNano())
	defer os.Remove(tmp)
	// SQLite creates its -wal and -shm files with the database file's permissions.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create state database: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", tmp+"?_txlock=immediate")
	if err != nil {
		return fmt.Errorf("create state database: %w", err)
	}
	err = migrate(ctx, db, migrations)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create state database %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create state database: %w", err)
	}
	return nil
}

// init checks the journal mode and migrates the schema.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return wrapDBErr(s.path, "open state database", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// WAL needs shared memory; some network filesystems cannot provide it.
		return fmt.Errorf("state database %s: journal mode is %q, want wal (is it on a network filesystem?)", s.path, mode)
	}
	if err := s.checkOwn(ctx); err != nil {
		return err
	}
	// A quick structural check at every open, so damage is found before it is built on; the
	// full check is Check ('stackfleet status --check').
	problems, err := pragmaCheck(ctx, s.write, s.path, "quick_check")
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_CORRUPT || se.Code()&0xff == sqlite3.SQLITE_NOTADB) {
		problems, err = []string{se.Error()}, nil
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("state database %s is damaged (%s): restore it from a backup (%s.v*.bak are kept before each schema upgrade)",
			s.path, strings.Join(problems, "; "), FileName)
	}
	if err := s.backupBeforeMigration(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, s.write, migrations); err != nil {
		return wrapDBErr(s.path, "migrate state database", err)
	}
	return s.claim(ctx)
}

// claim gives the Store's configuration the instances and operations recorded before
// configurations had their own namespace.
func (s *Store) claim(ctx context.Context) error {
	if s.config == "" {
		return nil
	}
	for _, table := range []string{"instances", "operations"} {
		if _, err := s.write.ExecContext(ctx, s.dialect.rebind("UPDATE "+table+" SET config = ? WHERE config = ''"), s.config); err != nil {
			return wrapDBErr(s.path, "claim recorded "+table, err)
		}
	}
	return nil
}

// backupBeforeMigration copies a database that is about to be migrated to
// state.db.v<version>.bak, consistently (VACUUM INTO), so that an upgrade can be undone.
func (s *Store) backupBeforeMigration(ctx context.Context) error {
	var current int
	if err := s.write.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return wrapDBErr(s.path, "read schema version", err)
	}
	if current == 0 || current >= len(migrations) {
		return nil
	}
	backup := fmt.Sprintf("%s.v%d.bak", s.path, current)
	if _, err := os.Stat(backup); err == nil {
		return nil // an earlier attempt made it
	}
	tmp := backup + ".tmp"
	os.Remove(tmp)
	if _, err := s.write.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return wrapDBErr(s.path, "back up before the schema upgrade", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, backup)
}

// checkOwn refuses a database that is not a stackfleet state: one with tables but no schema
// version (every state has one from its creation).
func (s *Store) checkOwn(ctx context.Context) error {
	rows, err := s.write.QueryContext(ctx, s.dialect.tables)
	if err != nil {
		return wrapDBErr(s.path, "open state database", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return wrapDBErr(s.path, "open state database", err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		return wrapDBErr(s.path, "open state database", err)
	}
	if len(tables) == 0 && s.dialect == postgresDialect {
		return nil // a new database: migratePostgres creates the schema (SQLite's is made whole by create)
	}
	if !slices.Contains(tables, "schema_version") {
		if s.dialect == postgresDialect {
			return fmt.Errorf("state database %s is not stackfleet's (it holds the tables %s): give stackfleet a database (or schema) of its own",
				s.path, strings.Join(tables, ", "))
		}
		return fmt.Errorf("state database %s is not stackfleet's (it holds the tables %s): point --config at the right directory, or move the file away",
			s.path, strings.Join(tables, ", "))
	}
	return nil
}

// Config is the configuration file the Store acts for ("" for none).
func (s *Store) Config() string { return s.config }

// Path names the database: its file name, or for PostgreSQL its user, host, port and database
// (never its password).
func (s *Store) Path() string { return s.path }

// Close waits for the writes already submitted to commit, then closes the database. Writes
// submitted after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.writer.close()
	return errors.Join(s.read.Close(), s.write.Close())
}

// Check runs SQLite's integrity and foreign key checks and reports the first problems found.
// PostgreSQL has no check as cheap, and keeps its own data consistent: there Check only sees that
// the database answers.
func (s *Store) Check(ctx context.Context) error {
	if s.dialect == postgresDialect {
		var one int
		if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return wrapDBErr(s.path, "check", err)
		}
		return nil
	}
	problems, err := pragmaCheck(ctx, s.read, s.path, "integrity_check")
	if err != nil {
		return err
	}
	fk, err := s.read.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return wrapDBErr(s.path, "foreign key check", err)
	}
	for fk.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var idx int
		if err := fk.Scan(&table, &rowid, &parent, &idx); err != nil {
			fk.Close()
			return wrapDBErr(s.path, "foreign key check", err)
		}
		problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s", table, rowid.Int64, parent))
	}
	if err := errors.Join(fk.Err(), fk.Close()); err != nil {
		return wrapDBErr(s.path, "foreign key check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("state database %s is damaged: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}

// pragmaCheck runs an integrity pragma (integrity_check, quick_check) and returns what it
// found wrong.
func pragmaCheck(ctx context.Context, db *sql.DB, path, pragma string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return nil, wrapDBErr(path, pragma, err)
	}
	var problems []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			rows.Close()
			return nil, wrapDBErr(path, pragma, err)
		}
		if msg != "ok" {
			problems = append(problems, msg)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, wrapDBErr(path, pragma, err)
	}
	return problems, nil
}

// Update runs fn in a write transaction and returns once its changes are committed (durable) or
// were rolled back. fn's changes commit atomically: if fn returns an error, none is applied.
//
// fn runs on the store's writer goroutine, inside a savepoint of a transaction it may share with
// other writers, so it must do nothing but call tx's methods (no waiting, no other I/O, no call
// of the Store, which would deadlock) and must not keep tx. If ctx ends before fn starts, fn does not run and Update returns ctx's error; once
// fn has started, Update waits for the outcome so that it never reports a write it does not know
// the fate of.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return s.writer.do(ctx, fn)
}

// A writeReq is one Update waiting for the writer goroutine.
type writeReq struct {
	fn    func(*Tx) error
	state atomic.Int32 // reqQueued, then reqTaken by the writer or reqAbandoned by the caller
	done  chan error   // receives the outcome once taken
	// panicked carries a panic of fn back to the caller's goroutine.
	panicked any
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// writer is the group-commit loop that owns the write connection.
type writer struct {
	db      *sql.DB
	dialect *dialect
	path    string
	config  string // recorded with every instance and operation written

	// stmts holds the hot statements (see hotQueries), prepared on the write connection before
	// any transaction: the pool has one connection, so preparing on the DB during a transaction
	// would wait for that transaction forever. Parsing SQL is most of a small write's CPU cost.
	stmts map[string]*sql.Stmt

	mu      sync.Mutex
	pending []*writeReq
	closed  bool
	wake    chan struct{} // capacity 1: "pending may be non-empty"
	exited  chan struct{}
}

func newWriter(ctx context.Context, db *sql.DB, d *dialect, path, config string) (*writer, error) {
	w := &writer{db: db, dialect: d, path: path, config: config, stmts: map[string]*sql.Stmt{}, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	for _, q := range hotQueries {
		st, err := db.PrepareContext(ctx, d.rebind(q))
		if err != nil {
			w.closeStmts()
			return nil, wrapDBErr(path, "prepare statements", err)
		}
		w.stmts[q] = st
	}
	go w.loop()
	return w, nil
}

func (w *writer) closeStmts() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *writer) do(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.pending = append(w.pending, req)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		err = <-req.done
	}
	if req.panicked != nil {
		panic(req.panicked)
	}
	return err
}

func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.exited
}

func (w *writer) loop() {
	defer close(w.exited)
	defer w.closeStmts()
	for {
		<-w.wake
		for {
			w.mu.Lock()
			n := min(len(w.pending), maxBatch)
			batch := w.pending[:n:n]
			w.pending = w.pending[n:]
			if len(w.pending) == 0 {
				w.pending = nil // let the backing array go
			}
			closed := w.closed
			w.mu.Unlock()
			if n == 0 {
				if closed {
					return
				}
				break
			}
			w.commit(batch)
		}
	}
}

// commit runs a batch in one transaction, each request in its own savepoint, and reports to
// each request its outcome. The transaction uses a background context on purpose: cancelling a
// statement interrupts the connection, and SQLite may then roll back the whole transaction,
// taking the other requests' writes with it.
func (w *writer) commit(batch []*writeReq) {
	ctx := context.Background()
	var taken []*writeReq
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			taken = append(taken, r)
		}
	}
	if len(taken) == 0 {
		return
	}
	results := make([]error, len(taken))
	err := func() (err error) {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return wrapDBErr(w.path, "begin write", err)
		}
		defer func() {
			if err != nil {
				tx.Rollback()
			}
		}()
		if w.dialect.lockWrites != "" {
			if _, err := tx.ExecContext(ctx, w.dialect.lockWrites); err != nil {
				return wrapDBErr(w.path, "lock the journal for writing", err)
			}
		}
		wtx := &Tx{ctx: ctx, tx: tx, w: w}
		for i, r := range taken {
			if _, err := wtx.exec(sqlSavepoint); err != nil {
				return wrapDBErr(w.path, "savepoint", err)
			}
			results[i] = runFn(r, wtx)
			if results[i] != nil {
				if _, err := wtx.exec(sqlRollbackTo); err != nil {
					return wrapDBErr(w.path, "roll back write", err)
				}
			}
			if _, err := wtx.exec(sqlRelease); err != nil {
				return wrapDBErr(w.path, "release savepoint", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return wrapDBErr(w.path, "commit", err)
		}
		return nil
	}()
	for i, r := range taken {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		r.done <- results[i]
	}
}

// stmt returns the statement for query bound to tx: the cached one for a hot query, a freshly
// prepared one otherwise.
func (w *writer) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, w.dialect.rebind(query))
}

// runFn runs one request's function, turning a panic into an error for the batch and handing
// the panic to the caller, which re-raises it in its own goroutine.
func runFn(r *writeReq, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			err = fmt.Errorf("state update panicked: %v", p)
		}
	}()
	return r.fn(tx)
}

// wrapDBErr adds context to a database error and replaces SQLite's "database is locked", or
// PostgreSQL's lock timeout, by a message saying what holds it. A PostgreSQL server that cannot
// be reached is named.
func wrapDBErr(path, what string, err error) error {
	if se, ok := errors.AsType[*sqlite.Error](err); ok && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("%s: state database %s stayed locked by another stackfleet process for more than %s (is one stuck?): %w", what, path, busyTimeout, err)
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == pgLockNotAvailable {
		return fmt.Errorf("%s: state database %s stayed locked by another stackfleet process for more than %s (is one stuck?): %w", what, path, busyTimeout, err)
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return fmt.Errorf("%s: cannot reach state database %s: %w", what, path, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
