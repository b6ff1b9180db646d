package postgres

import (
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NewMigratorOf returns a Migrator of the migrations in fsys, for tests that add their own.
func NewMigratorOf(pool *pgxpool.Pool, fsys fs.FS, locks LockRetry) *Migrator {
	m := NewMigratorWith(pool, locks)
	m.fsys = fsys
	return m
}
