package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifyGap is the least time between two outbox notifications. Commits within it share one
// notification: dispatchers claim everything due when woken, so one wake-up serves them all.
const notifyGap = 50 * time.Millisecond

// notifyTimeout bounds one notification; a lost one only delays delivery until the
// dispatchers' next poll.
const notifyTimeout = 5 * time.Second

// notifier wakes dispatchers after outbox messages were committed, with NOTIFY sent outside
// the committing transactions. A NOTIFY inside them would make PostgreSQL serialise their
// commits on its notification queue lock, and send one notification per registration.
// The first commit after a quiet spell is notified at once; later ones are merged, at most
// one notification per notifyGap.
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
		// A failure is not reported: the message is committed, and dispatchers also poll.
		_, _ = n.pool.Exec(ctx, `SELECT pg_notify($1, '')`, outboxChannel)
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
