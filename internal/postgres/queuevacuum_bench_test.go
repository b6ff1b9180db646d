package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// BenchmarkClaimCostDuringChurn measures what one claim costs, in buffers, while the outbox
// churns: emails are committed, claimed and marked sent as fast as the database allows, over
// a table that already holds 200,000 delivered emails, for OUTBOX_CHURN (default 60s). It
// runs twice at once, with PostgreSQL's default autovacuum thresholds and with the queue
// settings of migration 0003, and prints the claim's buffers (sampled every 2s, when nothing
// is due) and how often the table was vacuumed. A server may run with autovacuum off, so
// the benchmark applies autovacuum's trigger rule itself, once a second: vacuum when the dead
// rows exceed threshold + scale factor × rows. Run it with -bench ClaimCost -benchtime 1x.
func BenchmarkClaimCostDuringChurn(b *testing.B) {
	run := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("OUTBOX_CHURN")); err == nil {
		run = d
	}
	settings := []struct {
		name              string
		threshold, factor float64
	}{{"default autovacuum", 50, 0.2}, {"queue settings", 2000, 0}}
	var wg sync.WaitGroup
	lines := make([]string, len(settings))
	for i, s := range settings {
		pool := churnPool(b)
		wg.Go(func() { lines[i] = s.name + ": " + churn(b, pool, run, s.threshold, s.factor) })
	}
	wg.Wait()
	for _, l := range lines {
		fmt.Println(l)
	}
}

func churnPool(b *testing.B) *pgxpool.Pool {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	_, err = pool.Exec(context.Background(), `
		INSERT INTO outbox (recipient, payload, key_id, status, next_attempt_at, created_at, sent_at)
		SELECT 'h' || i || '@example.com', 'sealed', 'current-key', 'sent', now(), now(), now()
		FROM generate_series(1, 200000) i`)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `VACUUM ANALYZE outbox`); err != nil {
		b.Fatal(err)
	}
	return pool
}

// churn runs the workload for d and returns its figures.
func churn(b *testing.B, pool *pgxpool.Pool, d time.Duration, threshold, factor float64) string {
	ctx := context.Background()
	ob := postgres.NewOutbox(pool)
	keys := [][]byte{[]byte("current-key")}
	var buffers []int
	vacuums, emails := 0, 0
	lastSample, lastCheck := time.Now(), time.Now()
	for start := time.Now(); time.Since(start) < d; {
		if _, err := pool.Exec(ctx, `INSERT INTO outbox (recipient, payload, key_id, next_attempt_at, created_at)
			SELECT 'c@example.com', 'sealed', 'current-key', now(), now() FROM generate_series(1, 64)`); err != nil {
			b.Fatal(err)
		}
		for {
			msgs, err := ob.Claim(ctx, keys, time.Minute, 16)
			if err != nil {
				b.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if err := ob.MarkSent(ctx, m.ID); err != nil {
					b.Fatal(err)
				}
			}
			emails += len(msgs)
		}
		if time.Since(lastSample) >= 2*time.Second {
			buffers = append(buffers, claimBuffers(b, pool))
			lastSample = time.Now()
		}
		if time.Since(lastCheck) >= time.Second {
			vacuums += vacuumIfDue(b, pool, threshold, factor)
			lastCheck = time.Now()
		}
	}
	slices.Sort(buffers)
	return fmt.Sprintf("%d emails in %s, %d vacuums; claim with nothing due: median %d buffers, max %d (%d samples)",
		emails, d, vacuums, buffers[len(buffers)/2], buffers[len(buffers)-1], len(buffers))
}

// claimBuffers returns the buffers one claim touches now, in a transaction rolled back.
func claimBuffers(b *testing.B, pool *pgxpool.Pool) int {
	plan := explain(b, pool, "force_custom_plan", postgres.OutboxStatements["claim"],
		[][]byte{[]byte("current-key")}, "1 minute", 16)
	return plan.SharedHit + plan.SharedRead
}

// vacuumIfDue vacuums the outbox when autovacuum's rule says so, and reports whether it did.
func vacuumIfDue(b *testing.B, pool *pgxpool.Pool, threshold, factor float64) int {
	ctx := context.Background()
	var dead, live float64
	err := pool.QueryRow(ctx, `SELECT n_dead_tup, greatest(c.reltuples, 0) FROM pg_stat_user_tables s
		JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'outbox'`).Scan(&dead, &live)
	if err != nil {
		b.Fatal(err)
	}
	if dead <= threshold+factor*live {
		return 0
	}
	if _, err := pool.Exec(ctx, `VACUUM outbox`); err != nil {
		b.Fatal(err)
	}
	return 1
}
