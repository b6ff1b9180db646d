package postgres_test

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
)

var explainRetention = flag.Bool("retention.explain", false, "print the plans of the retention statements over -retention.rows preloaded rows")

var errRollback = errors.New("rolled back")

// TestRetentionPlans prints EXPLAIN (ANALYZE, BUFFERS) of each retention statement, each run
// in a transaction that is rolled back, over -retention.rows expired rows. It runs only with
// -retention.explain.
func TestRetentionPlans(t *testing.T) {
	if !*explainRetention {
		t.Skip("run with -args -retention.explain")
	}
	url := pgtest.NewDatabase(t)
	pool := openPool(t, url)
	preloadExpired(t, pool, *retentionRows)
	r := postgres.NewRetention(pool, postgres.RetentionConfig{PendingAccounts: 168 * time.Hour, Outbox: 168 * time.Hour, CodeTTL: time.Minute, BatchSize: 1000}, nil, nil)
	ctx := context.Background()
	var emails []string
	rows, _ := pool.Query(ctx, postgres.LockExpiredPending, 168*time.Hour, 1000, time.Minute)
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for sql, args := range r.RetentionStatements(emails) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args...)
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for i, l := range lines {
				if len(l) > 160 {
					lines[i] = l[:160] + "…"
				}
			}
			t.Logf("%s\n%s", firstLine(sql), strings.Join(lines, "\n"))
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	}
}

func firstLine(sql string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(sql), "\n")
	return line
}
