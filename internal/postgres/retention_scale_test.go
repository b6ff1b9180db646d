package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

var retentionRows = flag.Int("retention.rows", 20_000, "expired rows BenchmarkRetentionPass preloads")

// BenchmarkRetentionPass preloads -retention.rows expired rows (a quarter pending accounts,
// half sent emails, half of which their codes point to, a quarter address histories of active
// accounts), registers at full speed for a while, then applies retention while the
// registrations go on, and reports how long the pass took, its longest batch (the longest any
// row stays locked by it), how many backends waited on a lock, and registration latency
// before and during the pass. Run with -benchtime=1x, e.g.
//
//	go test -run='^$' -bench=RetentionPass -benchtime=1x ./internal/postgres -args -retention.rows=1000000
func BenchmarkRetentionPass(b *testing.B) {
	url := pgtest.NewDatabase(b)
	ctx := context.Background()
	pool := benchPool(b, url, nil)
	start := time.Now()
	preloadExpired(b, pool, *retentionRows)
	b.Logf("preloaded %d expired rows in %s", *retentionRows, time.Since(start).Round(time.Millisecond))
	batches := &queryTimer{}
	retention := postgres.NewRetention(benchPool(b, url, batches), postgres.RetentionConfig{
		PendingAccounts: 168 * time.Hour, Outbox: 168 * time.Hour, CodeTTL: time.Minute, BatchSize: 1000,
	}, nil, nil)
	for b.Loop() {
		load := startRegistrations(b, pool)
		time.Sleep(10 * time.Second)
		before := load.cut()
		waits := sampleLockWaits(ctx, pool)
		passStart := time.Now()
		removed, err := retention.RunOnce(ctx)
		pass := time.Since(passStart)
		during := load.cut()
		load.stop()
		maxWaiting, waitingShare := waits()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s in %s; longest batch %s over %d statements; lock waiters max %d, in %.1f%% of samples",
			removed, pass.Round(time.Millisecond), batches.max().Round(time.Microsecond), batches.count(), maxWaiting, 100*waitingShare)
		b.Logf("slowest statement: %.200s", batches.slowest)
		b.Logf("registrations: before %d, p50 %s p99 %s; during %d, p50 %s p99 %s",
			len(before), pct(before, 50), pct(before, 99), len(during), pct(during, 50), pct(during, 99))
		b.ReportMetric(pass.Seconds(), "pass_s")
		b.ReportMetric(float64(batches.max().Microseconds())/1000, "max_batch_ms")
		b.ReportMetric(float64(pct(before, 99).Microseconds())/1000, "p99_before_ms")
		b.ReportMetric(float64(pct(during, 99).Microseconds())/1000, "p99_during_ms")
	}
}

func benchPool(b *testing.B, url string, tracer pgx.QueryTracer) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 16
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// preloadExpired writes n expired rows, all eight days old.
func preloadExpired(b testing.TB, pool *pgxpool.Pool, n int) {
	pending, sent, histories := n/4, n/2, n/4
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO address_codes (email, issued) SELECT 'pending-' || i || '@scale.example', ARRAY[now() - interval '8 days']
			FROM generate_series(1, $1::int) i`, []any{pending}},
		{`INSERT INTO users (id, email, password_hash, status, created_at)
			SELECT gen_random_uuid(), 'pending-' || i || '@scale.example', 'fake$x', 'pending', now() - interval '8 days'
			FROM generate_series(1, $1::int) i`, []any{pending}},
		{`INSERT INTO outbox (recipient, payload, key_id, status, attempts, next_attempt_at, created_at, sent_at)
			SELECT CASE WHEN i <= $1::int THEN 'pending-' ELSE 'gone-' END || i || '@scale.example', '\x00', '\x00', 'sent', 1,
				now() - interval '8 days', now() - interval '8 days', now() - interval '8 days'
			FROM generate_series(1, $2::int) i`, []any{pending, sent}},
		{`INSERT INTO codes (user_id, code_hash, issued_at, sent_at, message_id)
			SELECT u.id, '\x00', u.created_at, u.created_at, o.id FROM users u JOIN outbox o ON o.recipient = u.email`, nil},
		{`INSERT INTO address_codes (email, issued) SELECT 'active-' || i || '@scale.example', ARRAY[now() - interval '8 days']
			FROM generate_series(1, $1::int) i`, []any{histories}},
		{`INSERT INTO users (id, email, password_hash, status, created_at, activated_at)
			SELECT gen_random_uuid(), 'active-' || i || '@scale.example', 'fake$x', 'active',
				now() - interval '8 days', now() - interval '8 days'
			FROM generate_series(1, $1::int) i`, []any{histories}},
		{`ANALYZE`, nil},
	}
	for _, step := range steps {
		if _, err := pool.Exec(context.Background(), step.sql, step.args...); err != nil {
			b.Fatalf("preload: %v", err)
		}
	}
}

// registrationLoad registers new addresses from 8 goroutines and keeps each one's latency.
type registrationLoad struct {
	mu        sync.Mutex
	latencies []time.Duration
	done      chan struct{}
	wg        sync.WaitGroup
}

func startRegistrations(b *testing.B, pool *pgxpool.Pool) *registrationLoad {
	keys, err := registration.NewCodeKeys(randomSecret(), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := registration.NewService(context.Background(), postgres.NewAccountStore(pool, nil), registrationtest.Hasher{}, keys, defaultPolicy, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	l := &registrationLoad{done: make(chan struct{})}
	var serial atomic.Int64
	for range 8 {
		l.wg.Go(func() {
			for {
				select {
				case <-l.done:
					return
				default:
				}
				start := time.Now()
				_, err := svc.Register(context.Background(), fmt.Sprintf("new-%d@scale.example", serial.Add(1)), "correct horse battery", registration.English)
				took := time.Since(start)
				if err != nil {
					b.Errorf("register: %v", err)
					return
				}
				l.mu.Lock()
				l.latencies = append(l.latencies, took)
				l.mu.Unlock()
			}
		})
	}
	return l
}

// cut returns the latencies since the last cut.
func (l *registrationLoad) cut() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.latencies
	l.latencies = nil
	return out
}

func (l *registrationLoad) stop() {
	close(l.done)
	l.wg.Wait()
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}

// sampleLockWaits counts, every 10 ms until the returned function is called, the backends of
// the database waiting on a lock; the function returns the most seen at once and the share of
// samples with any.
func sampleLockWaits(ctx context.Context, pool *pgxpool.Pool) func() (int, float64) {
	ctx, cancel := context.WithCancel(ctx)
	var maxWaiting, samples, withWaits int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err == nil {
				samples++
				maxWaiting = max(maxWaiting, n)
				if n > 0 {
					withWaits++
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() (int, float64) {
		cancel()
		<-done
		return maxWaiting, float64(withWaits) / float64(max(samples, 1))
	}
}

// queryTimer is a pgx tracer that keeps the longest statement time.
type queryTimer struct {
	mu      sync.Mutex
	longest time.Duration
	slowest string
	n       int
}

type queryStart struct {
	at  time.Time
	sql string
}

type queryStartKey struct{}

func (q *queryTimer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{time.Now(), d.SQL})
}

func (q *queryTimer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	start, _ := ctx.Value(queryStartKey{}).(queryStart)
	took := time.Since(start.at)
	q.mu.Lock()
	if took > q.longest {
		q.longest, q.slowest = took, start.sql
	}
	q.n++
	q.mu.Unlock()
}

func (q *queryTimer) max() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.longest
}

func (q *queryTimer) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
