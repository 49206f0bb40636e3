package state

import (
	"context"
	"database/sql"
)

// MigrateTo brings the database to schema version v and no further, as an older stackfleet
// left it.
func MigrateTo(ctx context.Context, db *sql.DB, v int) error { return migrate(ctx, db, migrations[:v]) }
