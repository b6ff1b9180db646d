package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
)

// This file keeps Store, which still serves accounts and the outbox at once, working on top
// of Outbox and with its own notifier, until accounts have a store of their own that wakes a
// Notifier after each commit. Then this file goes.

// outbox returns the outbox of s's database, recording each delivery on its own.
func (s *Store) outbox() *Outbox { return NewOutbox(s.pool) }

// Claim implements outbox.Store through Outbox.Claim.
func (s *Store) Claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int) ([]outbox.Message, error) {
	return s.outbox().Claim(ctx, keyIDs, lease, limit)
}

// ClaimWaiting implements outbox.Store through Outbox.ClaimWaiting.
func (s *Store) ClaimWaiting(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]outbox.Message, error) {
	return s.outbox().ClaimWaiting(ctx, keyIDs, lease, limit, minWait)
}

// MarkSent implements outbox.Store through Outbox.MarkSent.
func (s *Store) MarkSent(ctx context.Context, id int64) error { return s.outbox().MarkSent(ctx, id) }

// MarkRetry implements outbox.Store through Outbox.MarkRetry.
func (s *Store) MarkRetry(ctx context.Context, id int64, attempt int, delay time.Duration, reason string) error {
	return s.outbox().MarkRetry(ctx, id, attempt, delay, reason)
}

// MarkDead implements outbox.Store through Outbox.MarkDead.
func (s *Store) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	return s.outbox().MarkDead(ctx, id, attempt, reason)
}

// notifier is Store's way of waking dispatchers after a commit: Notifier's coalescing, on a
// goroutine of its own per quiet spell.
type notifier struct {
	pool    *pgxpool.Pool
	mu      sync.Mutex
	running bool // a goroutine is notifying
	pending bool // a commit came after the running goroutine's last notification
}

// wake makes sure that a notification is sent after this call.
func (n *notifier) wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		n.pending = true
		return
	}
	n.running = true
	go n.run()
}

func (n *notifier) run() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		_, _ = n.pool.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
		cancel()
		time.Sleep(notifyGap)
		n.mu.Lock()
		if !n.pending {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.pending = false
		n.mu.Unlock()
	}
}
