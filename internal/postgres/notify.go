package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifyChannel is the NOTIFY channel on which committed outbox messages wake dispatchers.
const notifyChannel = "outbox"

// notifyGap is the least time between two outbox notifications. Commits within it share one
// notification: dispatchers claim everything due when woken, so one wake-up serves them all.
const notifyGap = 50 * time.Millisecond

// notifyTimeout bounds one notification; a lost one only delays delivery until the
// dispatchers' next poll.
const notifyTimeout = 5 * time.Second

// Notifier wakes dispatchers after outbox messages were committed, with NOTIFY sent outside
// the committing transactions. A NOTIFY inside them would make PostgreSQL serialise their
// commits on its notification queue lock, and send one notification per registration.
// The first commit after a quiet spell is notified at once; later ones are merged, at most
// one notification per notifyGap.
type Notifier struct {
	pool    *pgxpool.Pool
	pending chan struct{} // holds a value when a commit has not been notified yet
}

// NewNotifier returns a Notifier that notifies through pool once Run runs.
func NewNotifier(pool *pgxpool.Pool) *Notifier {
	return &Notifier{pool: pool, pending: make(chan struct{}, 1)}
}

// Wake makes sure that a notification is sent after this call. It never blocks: it is
// called right after a transaction committed an outgoing email.
func (n *Notifier) Wake() { signal(n.pending) }

// Run sends the notifications Wake asks for until ctx is cancelled, then returns nil. A
// failed notification is not reported: the message is committed, and dispatchers also poll.
func (n *Notifier) Run(ctx context.Context) error {
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.pending:
		}
		notifyCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
		_, _ = n.pool.Exec(notifyCtx, `SELECT pg_notify($1, '')`, notifyChannel)
		cancel()
		gap.Reset(notifyGap)
		select {
		case <-ctx.Done():
			return nil
		case <-gap.C:
		}
	}
}
