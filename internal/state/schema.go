package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order; migrations[i] brings the schema to version i+1. Never edit
// or reorder one that has shipped: append a new one, and give it its PostgreSQL variant in
// pgMigrations.
//
// Times are Unix nanoseconds (NULL for the zero time); JSON columns hold fleet types as their
// JSON encoding. Events have no foreign key on purpose: the journal must accept every event,
// even one about an operation that failed to be recorded.
var migrations = []string{
	`
CREATE TABLE locks (
	stack_set     TEXT PRIMARY KEY,
	operation     TEXT NOT NULL,
	pid           INTEGER NOT NULL,
	host          TEXT NOT NULL,
	process_start TEXT NOT NULL,
	since         INTEGER NOT NULL
);
CREATE TABLE operations (
	n          INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	stack_set  TEXT NOT NULL,
	status     TEXT NOT NULL,
	plan       TEXT NOT NULL,
	started_at INTEGER,
	ended_at   INTEGER,
	reason     TEXT NOT NULL
);
CREATE INDEX operations_by_stack_set ON operations (stack_set, started_at, n);
CREATE TABLE steps (
	operation  TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
	account    TEXT NOT NULL,
	region     TEXT NOT NULL,
	idx        INTEGER NOT NULL,
	status     TEXT NOT NULL,
	reason     TEXT NOT NULL,
	updated_at INTEGER,
	PRIMARY KEY (operation, account, region)
) WITHOUT ROWID;
CREATE TABLE instances (
	stack_set      TEXT NOT NULL,
	region         TEXT NOT NULL,
	account        TEXT NOT NULL,
	stack_id       TEXT NOT NULL,
	status         TEXT NOT NULL,
	detail         TEXT NOT NULL,
	reason         TEXT NOT NULL,
	deployed       TEXT NOT NULL,
	last_good      TEXT,
	outputs        TEXT,
	last_operation TEXT NOT NULL,
	updated_at     INTEGER,
	PRIMARY KEY (stack_set, region, account)
) WITHOUT ROWID;
CREATE TABLE events (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	operation     TEXT NOT NULL,
	stack_set     TEXT NOT NULL,
	time          INTEGER,
	kind          TEXT NOT NULL,
	account       TEXT,
	region        TEXT,
	status        TEXT NOT NULL,
	reason        TEXT NOT NULL,
	logical_id    TEXT NOT NULL,
	resource_type TEXT NOT NULL
);
CREATE INDEX events_by_operation ON events (operation, seq);
`,
	// 2: release pipelines. A release keeps the resolved spec it deploys (content) so that resume
	// and rollback never read the current configuration. Template bodies are content-addressed
	// and never deleted: they are what rollback redeploys. Blob tables keep their rowid, as
	// WITHOUT ROWID suits small rows only. Gate records are read in rowid order, which is
	// insertion order because they are deleted only with their release.
	`
CREATE TABLE releases (
	n           INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	pipeline    TEXT NOT NULL,
	version     TEXT NOT NULL,
	status      TEXT NOT NULL,
	stage       INTEGER NOT NULL,
	wave        INTEGER NOT NULL,
	phase       TEXT NOT NULL,
	phase_since INTEGER,
	created_at  INTEGER,
	ended_at    INTEGER,
	reason      TEXT NOT NULL,
	content     BLOB NOT NULL
);
CREATE INDEX releases_by_pipeline ON releases (pipeline, created_at, n);
CREATE TABLE approvals (
	release    TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
	stage      TEXT NOT NULL,
	approved   INTEGER NOT NULL,
	decided_by TEXT NOT NULL,
	comment    TEXT NOT NULL,
	decided_at INTEGER,
	PRIMARY KEY (release, stage)
) WITHOUT ROWID;
CREATE TABLE templates (
	hash      TEXT PRIMARY KEY,
	body      BLOB NOT NULL,
	stored_at INTEGER NOT NULL
);
CREATE TABLE gate_records (
	seq     INTEGER PRIMARY KEY,
	release TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
	stage   INTEGER NOT NULL,
	wave    INTEGER NOT NULL,
	gate    TEXT NOT NULL,
	target  TEXT NOT NULL,
	status  TEXT NOT NULL,
	reason  TEXT NOT NULL,
	output  TEXT NOT NULL,
	time    INTEGER
);
CREATE INDEX gate_records_by_release ON gate_records (release, seq);
`,
	// 3: every instance has a typed owner — a stack set, or a pipeline's stack — instead of a key
	// shaped like a stack set name ("pipeline/<p>/<stack>", which stack set names cannot be, so
	// the old keys convert exactly), and the configuration file that created it: two configs in
	// one directory share the database but never each other's instances. Rows recorded before
	// have config '' and are claimed by the first configuration that opens the state.
	`
CREATE TABLE instances_v3 (
	config         TEXT NOT NULL,
	owner_kind     TEXT NOT NULL,
	owner          TEXT NOT NULL,
	stack          TEXT NOT NULL,
	region         TEXT NOT NULL,
	account        TEXT NOT NULL,
	stack_id       TEXT NOT NULL,
	status         TEXT NOT NULL,
	detail         TEXT NOT NULL,
	reason         TEXT NOT NULL,
	deployed       TEXT NOT NULL,
	last_good      TEXT,
	outputs        TEXT,
	last_operation TEXT NOT NULL,
	updated_at     INTEGER,
	PRIMARY KEY (owner_kind, owner, stack, region, account)
) WITHOUT ROWID;
INSERT INTO instances_v3
SELECT '',
	CASE WHEN stack_set LIKE 'pipeline/%/%' THEN 'pipeline' ELSE 'stack-set' END,
	CASE WHEN stack_set LIKE 'pipeline/%/%' THEN substr(stack_set, 10, instr(substr(stack_set, 10), '/') - 1) ELSE stack_set END,
	CASE WHEN stack_set LIKE 'pipeline/%/%' THEN substr(stack_set, 10 + instr(substr(stack_set, 10), '/')) ELSE '' END,
	region, account, stack_id, status, detail, reason, deployed, last_good, outputs, last_operation, updated_at
FROM instances;
DROP TABLE instances;
ALTER TABLE instances_v3 RENAME TO instances;
CREATE INDEX instances_by_config ON instances (config, owner_kind, owner);
ALTER TABLE operations ADD COLUMN config TEXT NOT NULL DEFAULT '';
`,
	// 4: an event is a stack-set operation's or a release's (source), and a release's step and
	// resource events name their pipeline stack. Events recorded before belong to a release when
	// their operation is a release's id; their stack is unknown ('').
	`
ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'operation';
ALTER TABLE events ADD COLUMN stack TEXT NOT NULL DEFAULT '';
UPDATE events SET source = 'release' WHERE operation IN (SELECT id FROM releases);
`,
	// 5: when each instance's stack last changed as CloudFormation reported it after the last
	// deploy, so that a refresh can tell a change made outside stackfleet. Unknown (NULL) for
	// instances recorded before.
	`
ALTER TABLE instances ADD COLUMN stack_changed INTEGER;
`,
}

// pgBaselineVersion is the schema version that pgBaseline creates: PostgreSQL support came with
// it, so no PostgreSQL database has an older schema.
const pgBaselineVersion = 5

// pgBaseline is the PostgreSQL schema of version pgBaselineVersion: what migrations 1 to 5 make
// of a new SQLite database, table by table and column by column in the same order, with
// INTEGER as BIGINT, BLOB as BYTEA, rowid keys as identity columns, and text compared byte by
// byte (COLLATE "C") as SQLite does, whatever the database's locale. Never edit it once shipped.
const pgBaseline = `
CREATE TABLE locks (
	stack_set     TEXT COLLATE "C" PRIMARY KEY,
	operation     TEXT COLLATE "C" NOT NULL,
	pid           BIGINT NOT NULL,
	host          TEXT COLLATE "C" NOT NULL,
	process_start TEXT COLLATE "C" NOT NULL,
	since         BIGINT NOT NULL
);
CREATE TABLE operations (
	n          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	id         TEXT COLLATE "C" NOT NULL UNIQUE,
	stack_set  TEXT COLLATE "C" NOT NULL,
	status     TEXT COLLATE "C" NOT NULL,
	plan       TEXT COLLATE "C" NOT NULL,
	started_at BIGINT,
	ended_at   BIGINT,
	reason     TEXT COLLATE "C" NOT NULL,
	config     TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX operations_by_stack_set ON operations (stack_set, started_at, n);
CREATE TABLE steps (
	operation  TEXT COLLATE "C" NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
	account    TEXT COLLATE "C" NOT NULL,
	region     TEXT COLLATE "C" NOT NULL,
	idx        BIGINT NOT NULL,
	status     TEXT COLLATE "C" NOT NULL,
	reason     TEXT COLLATE "C" NOT NULL,
	updated_at BIGINT,
	PRIMARY KEY (operation, account, region)
);
CREATE TABLE instances (
	config         TEXT COLLATE "C" NOT NULL,
	owner_kind     TEXT COLLATE "C" NOT NULL,
	owner          TEXT COLLATE "C" NOT NULL,
	stack          TEXT COLLATE "C" NOT NULL,
	region         TEXT COLLATE "C" NOT NULL,
	account        TEXT COLLATE "C" NOT NULL,
	stack_id       TEXT COLLATE "C" NOT NULL,
	status         TEXT COLLATE "C" NOT NULL,
	detail         TEXT COLLATE "C" NOT NULL,
	reason         TEXT COLLATE "C" NOT NULL,
	deployed       TEXT COLLATE "C" NOT NULL,
	last_good      TEXT COLLATE "C",
	outputs        TEXT COLLATE "C",
	last_operation TEXT COLLATE "C" NOT NULL,
	updated_at     BIGINT,
	stack_changed  BIGINT,
	PRIMARY KEY (owner_kind, owner, stack, region, account)
);
CREATE INDEX instances_by_config ON instances (config, owner_kind, owner);
CREATE TABLE events (
	seq           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	operation     TEXT COLLATE "C" NOT NULL,
	stack_set     TEXT COLLATE "C" NOT NULL,
	time          BIGINT,
	kind          TEXT COLLATE "C" NOT NULL,
	account       TEXT COLLATE "C",
	region        TEXT COLLATE "C",
	status        TEXT COLLATE "C" NOT NULL,
	reason        TEXT COLLATE "C" NOT NULL,
	logical_id    TEXT COLLATE "C" NOT NULL,
	resource_type TEXT COLLATE "C" NOT NULL,
	source        TEXT COLLATE "C" NOT NULL DEFAULT 'operation',
	stack         TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX events_by_operation ON events (operation, seq);
CREATE TABLE releases (
	n           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	id          TEXT COLLATE "C" NOT NULL UNIQUE,
	pipeline    TEXT COLLATE "C" NOT NULL,
	version     TEXT COLLATE "C" NOT NULL,
	status      TEXT COLLATE "C" NOT NULL,
	stage       BIGINT NOT NULL,
	wave        BIGINT NOT NULL,
	phase       TEXT COLLATE "C" NOT NULL,
	phase_since BIGINT,
	created_at  BIGINT,
	ended_at    BIGINT,
	reason      TEXT COLLATE "C" NOT NULL,
	content     BYTEA NOT NULL
);
CREATE INDEX releases_by_pipeline ON releases (pipeline, created_at, n);
CREATE TABLE approvals (
	release    TEXT COLLATE "C" NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
	stage      TEXT COLLATE "C" NOT NULL,
	approved   BIGINT NOT NULL,
	decided_by TEXT COLLATE "C" NOT NULL,
	comment    TEXT COLLATE "C" NOT NULL,
	decided_at BIGINT,
	PRIMARY KEY (release, stage)
);
CREATE TABLE templates (
	hash      TEXT COLLATE "C" PRIMARY KEY,
	body      BYTEA NOT NULL,
	stored_at BIGINT NOT NULL
);
CREATE TABLE gate_records (
	seq     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	release TEXT COLLATE "C" NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
	stage   BIGINT NOT NULL,
	wave    BIGINT NOT NULL,
	gate    TEXT COLLATE "C" NOT NULL,
	target  TEXT COLLATE "C" NOT NULL,
	status  TEXT COLLATE "C" NOT NULL,
	reason  TEXT COLLATE "C" NOT NULL,
	output  TEXT COLLATE "C" NOT NULL,
	time    BIGINT
);
CREATE INDEX gate_records_by_release ON gate_records (release, seq);
`

// pgMigrations holds the PostgreSQL variant of each migration after pgBaselineVersion, under
// the version it brings the schema to: migrations[v-1] and pgMigrations[v] must make the same
// tables, so that a Store behaves the same on either database. A migration appended to
// migrations without its variant here fails every open of a PostgreSQL journal (and
// TestPostgresMigrationsComplete). Like migrations, a variant that has shipped is never edited.
var pgMigrations = map[int]string{}

const sqlRecordVersion = "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"

// newerSchemaError refuses a database whose schema is newer than this build knows.
func newerSchemaError(current, known int) error {
	return fmt.Errorf("schema version %d is newer than this stackfleet knows (%d): upgrade stackfleet", current, known)
}

// migrate brings the schema up to date: it applies the migrations after the database's version.
// It reads the version inside the write transaction, so processes opening the same database at
// once apply each migration exactly once.
func migrate(ctx context.Context, db *sql.DB, migrations []string) (err error) {
	// An up-to-date database, the common case, is recognized without the write lock, so that
	// commands that only read (status, a test polling the journal) never wait for a writer.
	var current int
	if db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current) == nil && current == len(migrations) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil) // IMMEDIATE (see the writer DSN)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return err
	}
	if current > len(migrations) {
		return newerSchemaError(current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, sqlRecordVersion, v, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// migratePostgres is migrate for PostgreSQL: it creates a new database's schema from pgBaseline
// and applies the pgMigrations after the database's version, all in one transaction that holds
// the journal's write lock, so that processes opening the same database at once (a new one
// included: PostgreSQL's DDL is transactional) apply each migration exactly once. The version
// it reaches is len(migrations), as on SQLite.
func migratePostgres(ctx context.Context, db *sql.DB) (err error) {
	var current int
	if db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current) == nil && current == len(migrations) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, postgresDialect.lockWrites); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    BIGINT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return err
	}
	switch {
	case current > len(migrations):
		return newerSchemaError(current, len(migrations))
	case current == 0:
		if _, err := tx.ExecContext(ctx, pgBaseline); err != nil {
			return fmt.Errorf("baseline schema (version %d): %w", pgBaselineVersion, err)
		}
		for v := 1; v <= pgBaselineVersion; v++ {
			if err := recordVersion(ctx, tx, v); err != nil {
				return err
			}
		}
		current = pgBaselineVersion
	case current < pgBaselineVersion:
		return fmt.Errorf("schema version %d predates PostgreSQL support (%d): this database was not made by stackfleet", current, pgBaselineVersion)
	}
	for v := current + 1; v <= len(migrations); v++ {
		m, ok := pgMigrations[v]
		if !ok {
			return fmt.Errorf("migration %d has no PostgreSQL variant (pgMigrations)", v)
		}
		if _, err := tx.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := recordVersion(ctx, tx, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func recordVersion(ctx context.Context, tx *sql.Tx, v int) error {
	if _, err := tx.ExecContext(ctx, postgresDialect.rebind(sqlRecordVersion), v, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	return nil
}
