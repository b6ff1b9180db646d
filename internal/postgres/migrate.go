package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations built into the binary: files named
// NNNN_name.up.sql and NNNN_name.down.sql. Test helpers hash them to name template databases.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded above, so this cannot happen
	}
	return sub
}

// MigrationStatus describes one migration: known to the binary, applied to the database, or both.
type MigrationStatus struct {
	Version int
	Name    string
	Applied bool
	// AppliedAt is when the migration was applied; zero when it was not.
	AppliedAt time.Time
}

// Migrator applies and reverts the embedded schema migrations.
type Migrator struct {
	pool  *pgxpool.Pool
	fsys  fs.FS
	locks LockRetry
}

// NewMigrator returns a Migrator of the database behind pool that waits for its locks as
// DefaultLockRetry says, silently.
func NewMigrator(pool *pgxpool.Pool) *Migrator {
	return NewMigratorWith(pool, DefaultLockRetry)
}

// NewMigratorWith returns a Migrator of the database behind pool that waits for its locks as
// locks says; zero fields take DefaultLockRetry's values.
func NewMigratorWith(pool *pgxpool.Pool, locks LockRetry) *Migrator {
	return &Migrator{pool: pool, fsys: Migrations(), locks: locks.withDefaults()}
}

type migration struct {
	version  int
	name     string
	up, down string
}

var migrationName = regexp.MustCompile(`^(\d+)_(\w+)\.(up|down)\.sql$`)

// loadMigrations reads the migrations in fsys, ordered by version. Every version must have
// both an up and a down file, and no other file may be there.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int]*migration{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.up.sql or NNNN_name.down.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1]) // the pattern admits digits only
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		mig := byVersion[version]
		if mig == nil {
			mig = &migration{version: version, name: m[2]}
			byVersion[version] = mig
		}
		if mig.name != m[2] {
			return nil, fmt.Errorf("migration %d has two names: %q and %q", version, mig.name, m[2])
		}
		if m[3] == "up" {
			mig.up = string(body)
		} else {
			mig.down = string(body)
		}
	}
	var all []migration
	for _, mig := range byVersion {
		if mig.up == "" || mig.down == "" {
			return nil, fmt.Errorf("migration %d_%s: want both an up and a down file", mig.version, mig.name)
		}
		all = append(all, *mig)
	}
	slices.SortFunc(all, func(a, b migration) int { return a.version - b.version })
	return all, nil
}

// Up applies every migration not applied yet, in order, each in its own transaction. It is
// a no-op when the schema is current. It returns an error when the database is unreachable or
// a migration fails; the migrations before the failing one stay applied.
func (m *Migrator) Up(ctx context.Context) error {
	return m.withApplied(ctx, func(conn *pgxpool.Conn, all []migration, applied map[int]struct{}) error {
		for _, mig := range all {
			if _, ok := applied[mig.version]; ok {
				continue
			}
			if err := m.apply(ctx, conn, mig); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *Migrator) apply(ctx context.Context, conn *pgxpool.Conn, mig migration) error {
	err := m.withLockRetry(ctx, conn, "apply", mig, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, mig.up); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, mig.version, mig.name)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply migration %d_%s: %w", mig.version, mig.name, err)
	}
	return nil
}

// withApplied loads the binary's migrations and, holding the migration lock, the versions
// applied, and passes both to fn.
func (m *Migrator) withApplied(ctx context.Context, fn func(*pgxpool.Conn, []migration, map[int]struct{}) error) error {
	all, err := loadMigrations(m.fsys)
	if err != nil {
		return err
	}
	return m.locked(ctx, func(conn *pgxpool.Conn) error {
		applied, err := appliedVersions(ctx, conn)
		if err != nil {
			return err
		}
		return fn(conn, all, applied)
	})
}

// Down reverts the last n applied migrations (all of them when n <= 0), newest first, each in
// its own transaction. It returns an error when the database is unreachable, when an applied
// migration is unknown to this binary, or when a down migration fails.
func (m *Migrator) Down(ctx context.Context, n int) error {
	return m.withApplied(ctx, func(conn *pgxpool.Conn, all []migration, applied map[int]struct{}) error {
		versions := slices.Sorted(maps.Keys(applied))
		slices.Reverse(versions)
		if n > 0 && n < len(versions) {
			versions = versions[:n]
		}
		for _, v := range versions {
			i := slices.IndexFunc(all, func(mig migration) bool { return mig.version == v })
			if i < 0 {
				return fmt.Errorf("revert migration %d: unknown to this binary", v)
			}
			if err := m.revert(ctx, conn, all[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *Migrator) revert(ctx context.Context, conn *pgxpool.Conn, mig migration) error {
	err := m.withLockRetry(ctx, conn, "revert", mig, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, mig.down); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, mig.version)
		return err
	})
	if err != nil {
		return fmt.Errorf("revert migration %d_%s: %w", mig.version, mig.name, err)
	}
	return nil
}

// Status lists every migration known to the binary or recorded in the database, by version,
// saying whether and when it was applied. It returns an error when the database is unreachable.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	all, err := loadMigrations(m.fsys)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := m.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	byVersion := map[int]MigrationStatus{}
	for _, mig := range all {
		byVersion[mig.version] = MigrationStatus{Version: mig.version, Name: mig.name}
	}
	if exists {
		rows, _ := m.pool.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations`)
		var st MigrationStatus
		_, err := pgx.ForEachRow(rows, []any{&st.Version, &st.Name, &st.AppliedAt}, func() error {
			st.Applied = true
			byVersion[st.Version] = st
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("migration status: %w", err)
		}
	}
	out := make([]MigrationStatus, 0, len(byVersion))
	for _, st := range byVersion {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b MigrationStatus) int { return a.Version - b.Version })
	return out, nil
}

// locked runs fn on one connection holding the migration lock, with the bookkeeping table in
// place. The lock is session-level, so it spans the separate transaction of each migration.
func (m *Migrator) locked(ctx context.Context, fn func(*pgxpool.Conn) error) error {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take migration lock: %w", err)
	}
	defer func() {
		// ctx may be what ended fn; the lock must be released all the same.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
			// Ending the session is the other way to release its lock; the pool then discards it.
			_ = conn.Conn().Close(unlockCtx)
		}
	}()
	// applied_at is the database's clock: it records an operator's action, not domain time.
	const bookkeeping = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`
	if _, err := conn.Exec(ctx, bookkeeping); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	return fn(conn)
}

func appliedVersions(ctx context.Context, conn *pgxpool.Conn) (map[int]struct{}, error) {
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	applied := make(map[int]struct{}, len(versions))
	for _, v := range versions {
		applied[v] = struct{}{}
	}
	return applied, nil
}
