package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outage"
)

// notifyChannel is the NOTIFY channel on which committed outbox messages wake dispatchers.
const notifyChannel = "outbox"

// notifyGap is the least time between two outbox notifications. Commits within it share one
// notification: dispatchers claim everything due when woken, so one wake-up serves them all.
const notifyGap = 50 * time.Millisecond

// notifyTimeout bounds one notification; a lost one only delays delivery until the
// dispatchers' next poll.
const notifyTimeout = 5 * time.Second

// Reconnection backoff of the outbox listener.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 10 * time.Second
)

// Wakeups carries "an outbox message was committed" from the process that committed it to
// every dispatcher, through PostgreSQL: Committed asks for a NOTIFY on the outbox channel,
// and C receives when one arrives on the LISTEN connection. Run does both.
//
// The NOTIFY is sent outside the committing transactions: inside them it would make
// PostgreSQL serialise their commits on its notification queue lock, and send one
// notification per registration. The first commit after a quiet spell is notified at once;
// later ones are merged, at most one notification per notifyGap.
type Wakeups struct {
	pool    *pgxpool.Pool
	db      *outage.Tracker
	wake    chan struct{}
	pending chan struct{} // holds a value when a commit has not been notified yet
}

// NewWakeups returns the wake-ups of the database behind pool: once Run runs, it notifies
// through pool, listens on a connection of its own made with pool's configuration, and logs
// to logger when it cannot listen, once per outage (see outage.Tracker).
func NewWakeups(pool *pgxpool.Pool, logger *slog.Logger) *Wakeups {
	return &Wakeups{pool: pool, db: outage.New(logger, "outbox listener"),
		wake: make(chan struct{}, 1), pending: make(chan struct{}, 1)}
}

// Committed makes sure that a notification is sent after this call. It never blocks: it is
// called right after a transaction committed an outgoing email (AccountStore's committed).
func (w *Wakeups) Committed() { signal(w.pending) }

// C returns the channel that receives whenever an outbox message may have been committed:
// on every NOTIFY on the outbox channel, and each time the listener (re)connects, since
// notifications sent while it was away are lost. Sends never block; several wake-ups may
// merge into one.
func (w *Wakeups) C() <-chan struct{} { return w.wake }

// Run sends the notifications Committed asks for and listens for everyone's until ctx is
// cancelled, then returns nil. A failed notification is not reported: the message is
// committed, and dispatchers also poll. The listener holds one connection of its own outside
// the pool and reconnects with backoff when it dies.
func (w *Wakeups) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { w.notify(ctx) })
	w.listenLoop(ctx)
	wg.Wait()
	return nil
}

// notify sends the notifications Committed asks for until ctx is cancelled.
func (w *Wakeups) notify(ctx context.Context) {
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.pending:
		}
		notifyCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
		_, _ = w.pool.Exec(notifyCtx, `SELECT pg_notify($1, '')`, notifyChannel)
		cancel()
		gap.Reset(notifyGap)
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// listenLoop listens until ctx is cancelled, reconnecting with backoff.
func (w *Wakeups) listenLoop(ctx context.Context) {
	backoff := minListenBackoff
	for {
		listened, err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = minListenBackoff
		}
		w.db.Fail(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}

// listen connects, LISTENs on the outbox channel and signals on each notification until the
// connection fails or ctx ends. It reports whether it got as far as listening.
func (w *Wakeups) listen(ctx context.Context) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, w.pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection is discarded either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	w.db.OK()
	for {
		signal(w.wake)
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// signal wakes the receiver of wake without blocking; a pending wake-up already covers this one.
func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
