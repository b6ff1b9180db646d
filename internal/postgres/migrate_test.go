package postgres_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

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

// withOutboxMigration returns the built-in migrations plus one that alters the outbox, as a
// deploy's new migration would.
func withOutboxMigration(t *testing.T) fs.FS {
	t.Helper()
	fsys := fstest.MapFS{
		"9001_outbox_probe.up.sql":   {Data: []byte(`ALTER TABLE outbox ADD COLUMN probe int`)},
		"9001_outbox_probe.down.sql": {Data: []byte(`ALTER TABLE outbox DROP COLUMN probe`)},
	}
	entries, err := fs.ReadDir(postgres.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(postgres.Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fsys[e.Name()] = &fstest.MapFile{Data: data}
	}
	return fsys
}

// holdOutboxRead opens a transaction that has read the outbox, as a pg_dump or a long report
// does, and returns the function that ends it.
func holdOutboxRead(t *testing.T, pool *pgxpool.Pool) (end func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT count(*) FROM outbox`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(end)
	return end
}

// A migration that must wait for a reader of the table it alters gives up its lock request
// after a short lock timeout and tries again, saying so: meanwhile the service's statements
// on that table (here the dispatcher's mark after a send, bounded by 3 s in the dispatcher)
// go through instead of queueing behind the migration until the reader ends.
func TestMigrationRetriesItsLocksWithoutStallingTheService(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	service, reader := openPool(t, url), openPool(t, url)
	endRead := holdOutboxRead(t, reader)
	defer endRead() // before the pools close: the migration waits for it

	var mu sync.Mutex
	var reports []string
	m := postgres.NewMigratorOf(openPool(t, url), withOutboxMigration(t), postgres.LockRetry{
		Timeout: 200 * time.Millisecond, Attempts: 100, Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Report: func(msg string) { mu.Lock(); reports = append(reports, msg); mu.Unlock() },
	})
	done := make(chan error, 1)
	go func() { done <- m.Up(context.Background()) }()

	outbox := postgres.NewOutbox(service)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := outbox.MarkSent(ctx, 1)
		cancel()
		if err != nil {
			t.Fatalf("a mark waited %s behind the migration: %v", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("migration finished while the reader still held the outbox: %v", err)
	default:
	}
	endRead()
	if err := <-done; err != nil {
		t.Fatalf("migration after the reader ended: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 || !strings.Contains(reports[0], "9001_outbox_probe") || !strings.Contains(reports[0], "retrying in") {
		t.Fatalf("reports of the waits: %q", reports)
	}
	var probe bool
	if err := service.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'outbox' AND column_name = 'probe')`).Scan(&probe); err != nil || !probe {
		t.Fatalf("outbox.probe exists: %v (%v)", probe, err)
	}
}

// A migration whose lock never comes fails after its tries with one line, and leaves the
// schema as it was.
func TestMigrationGivesUpOnALockWithOneLine(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	pool := openPool(t, url)
	defer holdOutboxRead(t, openPool(t, url))()
	m := postgres.NewMigratorOf(pool, withOutboxMigration(t), postgres.LockRetry{
		Timeout: 100 * time.Millisecond, Attempts: 3, Backoff: 10 * time.Millisecond,
	})
	err := m.Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "9001_outbox_probe") || !strings.Contains(err.Error(), "gave up after 3 tries") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("error: %v", err)
	}
	statuses, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last := statuses[len(statuses)-1]; last.Version != 9001 || last.Applied {
		t.Fatalf("last migration: %+v, want 9001 pending", last)
	}
}
