package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/outage"
)

// RetentionConfig holds the retention rules and how they are applied.
type RetentionConfig struct {
	// PendingAccounts is the age past which a pending account is deleted with its code
	// (PENDING_ACCOUNT_RETENTION); 0 keeps them forever.
	PendingAccounts time.Duration
	// Outbox is the age past which sent and dead emails are deleted (OUTBOX_RETENTION),
	// counted from their delivery or from when they were given up on; 0 keeps them forever.
	Outbox time.Duration
	// CodeTTL is how long a code is valid once sent (ACTIVATION_CODE_TTL): an account whose
	// code may still be used is never deleted.
	CodeTTL time.Duration
	// Events keeps a user.deleted account event for every pending account deleted, as the
	// flows do when an account goes (EVENTS_WEBHOOK_URL set).
	Events bool
	// BatchSize bounds the rows one statement deletes or changes; default 1,000.
	BatchSize int
	// Interval is the mean time between two passes of Run, jittered by ±20%; default 1 minute.
	Interval time.Duration
}

// Removed counts what one retention pass removed, by kind.
type Removed struct {
	PendingAccounts int64
	OutboxMessages  int64
	// HistoryEntries counts issue times dropped from address records' quota histories.
	HistoryEntries int64
	// AddressRecords counts address records deleted, left with no account and no history.
	AddressRecords int64
	// IdempotencyKeys counts records of requests sent with an Idempotency-Key, older than a day.
	IdempotencyKeys int64
	// Skipped is set when another process was applying retention: this pass removed nothing.
	Skipped bool
}

// String lists the counts for a person to read, as `regapi cleanup` prints them.
func (r Removed) String() string {
	if r.Skipped {
		return "skipped: another process is applying retention"
	}
	return fmt.Sprintf("removed %d pending accounts, %d outbox messages, %d address history entries, %d address records, %d idempotency keys",
		r.PendingAccounts, r.OutboxMessages, r.HistoryEntries, r.AddressRecords, r.IdempotencyKeys)
}

func (r *Removed) add(o Removed) {
	r.PendingAccounts += o.PendingAccounts
	r.OutboxMessages += o.OutboxMessages
	r.HistoryEntries += o.HistoryEntries
	r.AddressRecords += o.AddressRecords
	r.IdempotencyKeys += o.IdempotencyKeys
}

// Retention deletes what the retention rules let go, in small batches, each its own short
// transaction that skips rows other transactions hold. Ages are measured on the database's
// clock, never the process's.
type Retention struct {
	pool    *pgxpool.Pool
	cfg     RetentionConfig
	logger  *slog.Logger
	removed *prometheus.CounterVec
	lastRun prometheus.Gauge
	db      *outage.Tracker
}

// NewRetention returns the retention of the database behind pool, logging failed passes of Run
// to logger (nil discards them) and registering its metrics with reg (nil registers none):
// regapi_retention_removed_total{kind} and regapi_retention_last_run_timestamp_seconds. It
// panics, as prometheus.MustRegister does, when they are registered already.
func NewRetention(pool *pgxpool.Pool, cfg RetentionConfig, logger *slog.Logger, reg prometheus.Registerer) *Retention {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Retention{pool: pool, cfg: cfg, logger: logger, db: outage.New(logger, "retention"),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regapi_retention_removed_total",
			Help: "Rows removed by retention, by kind: pending_accounts, outbox_messages, address_history_entries, address_records.",
		}, []string{"kind"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regapi_retention_last_run_timestamp_seconds",
			Help: "When this process last completed a retention pass (0: never).",
		}),
	}
	for _, kind := range retentionKinds {
		r.removed.WithLabelValues(kind)
	}
	if reg != nil {
		reg.MustRegister(r.removed, r.lastRun)
	}
	return r
}

var retentionKinds = []string{"pending_accounts", "outbox_messages", "address_history_entries", "address_records", "idempotency_keys"}

// Run applies retention every Interval, jittered, until ctx ends, then returns nil. A failed
// pass is retried by the next one; failures in a row are logged once, as an outage, and the
// first pass that works ends it (see outage.Tracker).
func (r *Retention) Run(ctx context.Context) error {
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.db.Fail(fmt.Errorf("retention pass failed; the next one tries again: %w", err))
		} else if err == nil {
			r.db.OK()
		}
		// #nosec G404 -- jitter that spreads processes' passes, not a secret
		wait := time.Duration(float64(r.cfg.Interval) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// RunOnce applies every retention rule until nothing more is due, unless another process is
// applying them (then Removed.Skipped is set). It returns what it removed, also when it fails
// part way with a wrapped database error or ctx's.
func (r *Retention) RunOnce(ctx context.Context) (Removed, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return Removed{}, fmt.Errorf("retention: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, retentionLockKey).Scan(&locked); err != nil {
		return Removed{}, fmt.Errorf("retention: take the lock: %w", err)
	}
	if !locked {
		return Removed{Skipped: true}, nil
	}
	defer unlock(ctx, conn, retentionLockKey)
	var total Removed
	err = r.apply(ctx, conn, &total)
	r.count(total)
	if err != nil {
		return total, fmt.Errorf("retention: %w", err)
	}
	r.lastRun.SetToCurrentTime()
	return total, nil
}

// batchStep applies one batch of a rule and reports whether more may be due.
type batchStep func(context.Context, *pgxpool.Conn) (Removed, bool, error)

// steps returns the rules in force, each as its batch: the quota histories and the records of
// idempotent requests always, pending accounts and the outbox unless kept forever.
func (r *Retention) steps() []batchStep {
	steps := []batchStep{r.historyBatch}
	if r.cfg.PendingAccounts > 0 {
		steps = append(steps, r.pendingBatch)
	}
	if r.cfg.Outbox > 0 {
		steps = append(steps, r.outboxBatch(outboxSent), r.outboxBatch(outboxDead))
	}
	return append(steps, r.idempotencyBatch)
}

// apply runs each rule's batches in turn until none is due, adding what they remove to total.
func (r *Retention) apply(ctx context.Context, conn *pgxpool.Conn, total *Removed) error {
	for _, step := range r.steps() {
		for more := true; more; {
			removed, m, err := step(ctx, conn)
			total.add(removed)
			if err != nil {
				return err
			}
			more = m
		}
	}
	return nil
}

func (r *Retention) count(total Removed) {
	for i, n := range []int64{total.PendingAccounts, total.OutboxMessages, total.HistoryEntries, total.AddressRecords, total.IdempotencyKeys} {
		r.removed.WithLabelValues(retentionKinds[i]).Add(float64(n))
	}
}

// unlock releases the session advisory lock key held on conn. A connection that cannot be
// unlocked is closed instead, which releases the lock too, rather than go back to the pool
// still holding it.
func unlock(ctx context.Context, conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&released)
	if err != nil || !released {
		_ = conn.Conn().Close(ctx) // the pool discards a closed connection
	}
}
