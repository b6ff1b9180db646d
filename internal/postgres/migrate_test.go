package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// checkApplied fails t unless exactly the first applied migrations (all of them when applied
// is negative) are applied, and the users table exists exactly when the first one is.
func checkApplied(t *testing.T, pool *pgxpool.Pool, applied int) {
	t.Helper()
	ctx := context.Background()
	statuses, err := postgres.NewMigrator(pool).Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if len(statuses) == 0 {
		t.Fatal("status lists no migrations")
	}
	if applied < 0 {
		applied = len(statuses)
	}
	for i, st := range statuses {
		want := i < applied
		if st.Applied != want || st.AppliedAt.IsZero() == want {
			t.Errorf("migration %d_%s: applied %v at %v, want applied %v", st.Version, st.Name, st.Applied, st.AppliedAt, want)
		}
	}
	var hasUsers bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('users') IS NOT NULL`).Scan(&hasUsers); err != nil {
		t.Fatal(err)
	}
	if hasUsers != (applied > 0) {
		t.Errorf("users table exists: %v, want %v", hasUsers, applied > 0)
	}
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	pool := newPool(t) // migrated up by pgtest
	m := postgres.NewMigrator(pool)
	statuses, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all := len(statuses)
	steps := []struct {
		name        string
		run         func(context.Context) error
		wantApplied int
	}{
		{"up again is a no-op", m.Up, all},
		{"down one", func(ctx context.Context) error { return m.Down(ctx, 1) }, all - 1},
		{"up", m.Up, all},
		{"up twice", m.Up, all},
		{"down all", func(ctx context.Context) error { return m.Down(ctx, 0) }, 0},
		{"down with nothing applied", func(ctx context.Context) error { return m.Down(ctx, 0) }, 0},
		{"up after down all", m.Up, all},
	}
	for _, step := range steps {
		if err := step.run(context.Background()); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		checkApplied(t, pool, step.wantApplied)
		if t.Failed() {
			t.Fatalf("after %s: schema is wrong", step.name)
		}
	}
}

func TestMigrateStatusOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	// No bookkeeping table at all: as on a database regapi never touched.
	if err := postgres.NewMigrator(pool).Down(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DROP TABLE schema_migrations`); err != nil {
		t.Fatal(err)
	}
	checkApplied(t, pool, 0)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := postgres.NewMigrator(openPool(t, url)).Down(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Separate pools, as separate processes would have.
	const migrators = 4
	pools := make([]*pgxpool.Pool, migrators)
	for i := range pools {
		pools[i] = openPool(t, url)
	}
	counts := parallel(migrators, func(i int) error { return postgres.NewMigrator(pools[i]).Up(ctx) })
	if counts[nil] != migrators {
		t.Fatalf("concurrent migrations: outcomes %v, want %d successes", counts, migrators)
	}
	checkApplied(t, pools[0], -1)
	// Each migration ran once: a second run would have failed on CREATE TABLE, or left a
	// duplicate version, which the primary key forbids.
	var rows int
	if err := pools[0].QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	statuses, err := postgres.NewMigrator(pools[0]).Status(ctx)
	if err != nil || rows != len(statuses) {
		t.Errorf("schema_migrations has %d rows, want %d (%v)", rows, len(statuses), err)
	}
}
