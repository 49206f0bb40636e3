package state_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pgtest"
	"github.com/stackfleet/stackfleet/internal/state"
)

// postgresBackend keeps journals in databases of the test binary's PostgreSQL server, one
// database per journal.
var postgresBackend = backend{
	name:    "postgres",
	fresh:   pgtest.Start,
	openFor: state.OpenPostgres,
	raw: func(t testing.TB, dsn string) *sql.DB {
		t.Helper()
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	},
	childEnv: func(dsn string) string { return "STATE_PG=" + dsn },
}

// TestPostgres runs the tests of what a Store does on PostgreSQL, each in a database of its own.
func TestPostgres(t *testing.T) {
	pgtest.Start(t) // skips here, once, when PostgreSQL is missing
	tests := []struct {
		name string
		run  func(*testing.T, backend)
	}{
		{"OperationRoundTrip", testOperationRoundTrip},
		{"OperationErrors", testOperationErrors},
		{"OperationsAndUnfinished", testOperationsAndUnfinished},
		{"InstanceRoundTrip", testInstanceRoundTrip},
		{"InstancesSortBytewise", testInstancesSortBytewise},
		{"Events", testEvents},
		{"UpdateIsAtomic", testUpdateIsAtomic},
		{"UpdatePanicReachesCaller", testUpdatePanicReachesCaller},
		{"CancelledAndClosed", testCancelledAndClosed},
		{"OpenIsIdempotent", func(t *testing.T, b backend) { testOpenIsIdempotent(t, b, b.fresh(t)) }},
		{"ConcurrentOpenOfNewDatabase", testConcurrentOpenOfNewDatabase},
		{"OpenRefusesNewerSchema", testOpenRefusesNewerSchema},
		{"OpenRefusesForeign", testOpenRefusesForeign},
		{"TwoStoresWriteConcurrently", testTwoStoresWriteConcurrently},
		{"LockHeldByLiveProcessThenTakenOver", testLockHeldByLiveProcessThenTakenOver},
		{"LockOfReusedPIDIsStale", testLockOfReusedPIDIsStale},
		{"Kill9WhileWriting", testKill9WhileWriting},
		{"ReleaseRoundTrip", testReleaseRoundTrip},
		{"ReleaseErrors", testReleaseErrors},
		{"ReleasesAndActiveReleases", testReleasesAndActiveReleases},
		{"Approvals", testApprovals},
		{"Templates", testTemplates},
		{"GateRecords", testGateRecords},
		{"ReleaseTxIsAtomic", testReleaseTxIsAtomic},
		{"PipelineConcurrentWriters", testPipelineConcurrentWriters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, postgresBackend)
		})
	}
}

func TestInstancesSortBytewise(t *testing.T) { testInstancesSortBytewise(t, sqliteBackend) }

// testInstancesSortBytewise: names sort byte by byte, as SQLite compares text, whatever the
// collation of the database (pgtest's follow the en-US locale, where _ comes first and case
// hardly counts).
func testInstancesSortBytewise(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t, b.fresh(t))
	regions := []string{"a-1", "_x", "Z", "B-1"}
	for _, r := range regions {
		if err := s.PutInstance(ctx, fleet.Instance{Owner: fleet.StackSetOwner("web"), Target: fleet.Target{Account: "1", Region: r}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"web", "_web", "Web"} {
		if err := s.CreateOperation(ctx, fleet.Operation{ID: "op-" + name, StackSet: name, Status: fleet.OpRunning}, nil); err != nil {
			t.Fatal(err)
		}
	}
	insts, err := s.Instances(ctx, fleet.StackSetOwner("web"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range insts {
		got = append(got, in.Target.Region)
	}
	if diff := cmp.Diff([]string{"B-1", "Z", "_x", "a-1"}, got); diff != "" {
		t.Errorf("regions of Instances (-want +got):\n%s", diff)
	}
	owners, err := s.Owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, o := range owners {
		got = append(got, o.Owner.Name)
	}
	if diff := cmp.Diff([]string{"Web", "_web", "web"}, got); diff != "" {
		t.Errorf("names of Owners (-want +got):\n%s", diff)
	}
}

// TestPostgresSchemaMatchesSQLite compares a new PostgreSQL journal's tables, columns, keys and
// indexes with those of a new SQLite state, which has gone through every migration.
func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	dsn := pgtest.Start(t)
	postgresBackend.open(t, dsn)
	dir := t.TempDir()
	open(t, dir)
	lite := rawDB(t, dir)
	defer lite.Close()
	pg := postgresBackend.raw(t, dsn)

	want := queryStrings(t, lite, `
SELECT m.name || '.' || p.name || ' ' || lower(p.type) ||
	CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN ' not null' ELSE '' END ||
	CASE WHEN p.pk > 0 THEN ' key ' || p.pk ELSE '' END ||
	coalesce(' default ' || p.dflt_value, '')
FROM sqlite_master m, pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`)
	want = append(want, queryStrings(t, lite, `
SELECT 'index ' || m.name || ' on ' || m.tbl_name || ' (' || group_concat(i.name, ', ') || ')'
FROM sqlite_master m, pragma_index_info(m.name) i
WHERE m.type = 'index' AND m.sql IS NOT NULL GROUP BY m.name ORDER BY m.name`)...)
	want = append(want, queryStrings(t, lite, `
SELECT 'foreign key ' || m.name || '.' || f."from" || ' references ' || f."table" || '.' || f."to" || ' on delete ' || lower(f.on_delete)
FROM sqlite_master m, pragma_foreign_key_list(m.name) f
WHERE m.type = 'table' ORDER BY 1`)...)

	got := queryStrings(t, pg, `
SELECT c.table_name || '.' || c.column_name || ' ' ||
	CASE c.data_type WHEN 'bigint' THEN 'integer' WHEN 'bytea' THEN 'blob' ELSE c.data_type END ||
	CASE WHEN c.is_nullable = 'NO' THEN ' not null' ELSE '' END ||
	coalesce(' key ' || k.ordinal_position, '') ||
	coalesce(' default ' || replace(c.column_default, '::text', ''), '')
FROM information_schema.columns c
LEFT JOIN information_schema.table_constraints tc
	ON tc.table_schema = c.table_schema AND tc.table_name = c.table_name AND tc.constraint_type = 'PRIMARY KEY'
LEFT JOIN information_schema.key_column_usage k
	ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name AND k.column_name = c.column_name
WHERE c.table_schema = current_schema() ORDER BY c.table_name, c.ordinal_position`)
	got = append(got, queryStrings(t, pg, `
SELECT 'index ' || i.relname || ' on ' || r.relname || ' (' || string_agg(a.attname, ', ' ORDER BY k.ord) || ')'
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class r ON r.oid = x.indrelid
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = k.attnum
WHERE r.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary AND NOT x.indisunique
GROUP BY i.relname, r.relname ORDER BY i.relname`)...)
	got = append(got, queryStrings(t, pg, `
SELECT 'foreign key ' || k.table_name || '.' || k.column_name || ' references ' || u.table_name || '.' || u.column_name || ' on delete ' || lower(rc.delete_rule)
FROM information_schema.referential_constraints rc
JOIN information_schema.key_column_usage k ON k.constraint_schema = rc.constraint_schema AND k.constraint_name = rc.constraint_name
JOIN information_schema.constraint_column_usage u ON u.constraint_schema = rc.constraint_schema AND u.constraint_name = rc.constraint_name
WHERE rc.constraint_schema = current_schema() ORDER BY 1`)...)

	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PostgreSQL schema differs from SQLite's (-sqlite +postgres):\n%s", diff)
	}
	var version int
	if err := pg.QueryRow("SELECT max(version) FROM schema_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	var liteVersion int
	if err := lite.QueryRow("SELECT max(version) FROM schema_version").Scan(&liteVersion); err != nil {
		t.Fatal(err)
	}
	if version != liteVersion {
		t.Errorf("schema version %d on PostgreSQL, %d on SQLite", version, liteVersion)
	}
}

func queryStrings(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every migration after the PostgreSQL baseline has its PostgreSQL variant.
func TestPostgresMigrationsComplete(t *testing.T) {
	missing, extra := state.PostgresMigrationsMissing()
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("migrations without a PostgreSQL variant: %v; PostgreSQL variants without a migration: %v", missing, extra)
	}
}

// A PostgreSQL journal is named by its user, host, port and database, never its password, in
// Path and in errors.
func TestPostgresHidesPassword(t *testing.T) {
	dsn := pgtest.Start(t)
	const password = "hunter2"
	// pgtest's server trusts local connections: the password is sent but never checked.
	s := postgresBackend.open(t, dsn+" password="+password)
	if strings.Contains(s.Path(), password) || !strings.HasPrefix(s.Path(), "postgres://postgres@/") || !strings.HasSuffix(s.Path(), ":5432/"+dbName(dsn)) {
		t.Errorf("Path() = %q, want postgres://postgres@<socket directory>:5432/%s", s.Path(), dbName(dsn))
	}
	for _, bad := range []string{
		strings.Replace(dsn, "dbname="+dbName(dsn), "dbname=nosuchdb", 1) + " password=" + password,
		"postgres://postgres:" + password + "@localhost:notaport/db",
	} {
		_, err := state.OpenPostgres(t.Context(), bad, "")
		if err == nil || strings.Contains(err.Error(), password) {
			t.Errorf("OpenPostgres(%s): %v; want an error without the password", strings.ReplaceAll(bad, password, "***"), err)
		}
	}
	_, err := state.OpenPostgres(t.Context(), strings.Replace(dsn, "dbname="+dbName(dsn), "dbname=nosuchdb", 1), "")
	if want := "cannot reach state database postgres://postgres@"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ":5432/nosuchdb") {
		t.Errorf("OpenPostgres of a missing database: %v; want an error saying %q and naming the database", err, want)
	}
}

// dbName is the dbname of a key=value connection string.
func dbName(dsn string) string {
	i := slices.IndexFunc(strings.Fields(dsn), func(f string) bool { return strings.HasPrefix(f, "dbname=") })
	if i < 0 {
		panic(fmt.Sprintf("no dbname in %q", dsn))
	}
	return strings.TrimPrefix(strings.Fields(dsn)[i], "dbname=")
}
