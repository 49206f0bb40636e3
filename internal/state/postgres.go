package state

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgLockNotAvailable is PostgreSQL's SQLSTATE for a lock wait that exceeded lock_timeout.
const pgLockNotAvailable = "55P03"

// OpenPostgres opens the journal kept in the PostgreSQL database dsn (a postgres:// URL or a
// key=value connection string, as libpq takes them), so that a team can share one. It creates
// the schema in a database that has none, migrates it to the version this build knows, and
// refuses a schema written by a newer stackfleet, or a database (schema, from the search path)
// that holds another application's tables. config is as in OpenFor.
//
// The Store behaves as one opened with Open, except that Check only sees that the server
// answers, and Path names the database without its password. Writers of every process take
// turns through an advisory lock, waiting at most as long as SQLite's busy timeout.
func OpenPostgres(ctx context.Context, dsn, config string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err) // pgx leaves the password out
	}
	host, _ := os.Hostname()
	s := &Store{path: pgName(cfg), dialect: postgresDialect, config: config, pid: os.Getpid(), host: host, start: processStart(os.Getpid())}

	wcfg := cfg.Copy()
	setDefault(wcfg, "application_name", "stackfleet")
	// The write connection waits for another process's write lock as long as SQLite would.
	wcfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	s.write = stdlib.OpenDB(*wcfg)
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.initPostgres(ctx); err != nil {
		s.write.Close()
		return nil, err
	}
	// As query_only does on SQLite, read-only transactions guard the read pool against writing.
	rcfg := cfg.Copy()
	setDefault(rcfg, "application_name", "stackfleet")
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	s.read = stdlib.OpenDB(*rcfg)
	s.read.SetMaxOpenConns(4)
	s.read.SetMaxIdleConns(4)
	if s.writer, err = newWriter(ctx, s.write, s.dialect, s.path, config); err != nil {
		s.read.Close()
		s.write.Close()
		return nil, err
	}
	return s, nil
}

// initPostgres refuses another application's database, then migrates the schema.
func (s *Store) initPostgres(ctx context.Context) error {
	if err := s.checkOwn(ctx); err != nil {
		return err
	}
	if err := migratePostgres(ctx, s.write); err != nil {
		return wrapDBErr(s.path, "migrate state database", err)
	}
	return s.claim(ctx)
}

// pgName names a PostgreSQL database for messages and Store.Path: its user, host, port and name,
// as a URL without the password. A host that is a directory is a Unix socket's.
func pgName(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// setDefault sets a run-time parameter the connection string did not set.
func setDefault(cfg *pgx.ConnConfig, name, value string) {
	if _, ok := cfg.RuntimeParams[name]; !ok {
		cfg.RuntimeParams[name] = value
	}
}
