package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outage"
)

// Reconnection backoff of the outbox listener.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 10 * time.Second
)

// Wakeups listens for committed outbox messages and tells a dispatcher about them.
type Wakeups struct {
	pool *pgxpool.Pool
	db   *outage.Tracker
	wake chan struct{}
}

// NewWakeups returns a listener that, once Run runs, connects with pool's configuration and
// logs to logger when it cannot listen, once per outage (see outage.Tracker).
func NewWakeups(pool *pgxpool.Pool, logger *slog.Logger) *Wakeups {
	return &Wakeups{pool: pool, db: outage.New(logger, "outbox listener"), wake: make(chan struct{}, 1)}
}

// C returns the channel that receives whenever an outbox message may have been committed:
// on every NOTIFY on the outbox channel, and each time the listener (re)connects, since
// notifications sent while it was away are lost. Sends never block; several wake-ups may
// merge into one.
func (w *Wakeups) C() <-chan struct{} { return w.wake }

// Run listens until ctx is cancelled, then returns nil. It holds one connection of its own
// outside the pool and reconnects with backoff when it dies.
func (w *Wakeups) Run(ctx context.Context) error {
	backoff := minListenBackoff
	for {
		listened, err := w.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = minListenBackoff
		}
		w.db.Fail(err)
		select {
		case <-ctx.Done():
			return nil
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
