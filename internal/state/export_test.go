package state

import (
	"context"
	"database/sql"
)

// MigrateTo brings the database to schema version v and no further, as an older stackfleet
// left it.
func MigrateTo(ctx context.Context, db *sql.DB, v int) error { return migrate(ctx, db, migrations[:v]) }

// Exec runs a statement written with ? placeholders in a write transaction of s, in its
// database's dialect, for tests that must shape what the Store hides.
func Exec(ctx context.Context, s *Store, query string, args ...any) error {
	return s.Update(ctx, func(tx *Tx) error {
		_, err := tx.exec(query, args...)
		return err
	})
}

// PostgresMigrationsMissing lists the versions after the PostgreSQL baseline that have no
// PostgreSQL variant in pgMigrations, and the variants that have no migration.
func PostgresMigrationsMissing() (missing, extra []int) {
	for v := pgBaselineVersion + 1; v <= len(migrations); v++ {
		if _, ok := pgMigrations[v]; !ok {
			missing = append(missing, v)
		}
	}
	for v := range pgMigrations {
		if v <= pgBaselineVersion || v > len(migrations) {
			extra = append(extra, v)
		}
	}
	return missing, extra
}
