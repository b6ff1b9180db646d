package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of the outbox listener.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 10 * time.Second
)

// Wakeups returns a channel that receives whenever an outbox message may have been committed:
// on every NOTIFY on the outbox channel, and each time the listener (re)connects, since
// notifications sent while it was away are lost. Sends never block; several wake-ups may merge
// into one. The listener holds one connection of its own outside the pool, reconnects with
// backoff when it dies, logging each loss to logger, and closes the channel once ctx ends.
func (s *Store) Wakeups(ctx context.Context, logger *slog.Logger) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		defer close(wake)
		backoff := minListenBackoff
		for {
			listened, err := s.listen(ctx, wake)
			if ctx.Err() != nil {
				return
			}
			if listened {
				backoff = minListenBackoff
			}
			logger.Warn("outbox listener lost its database connection; reconnecting",
				"err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxListenBackoff)
		}
	}()
	return wake
}

// listen connects, LISTENs on the outbox channel and signals wake on each notification until
// the connection fails or ctx ends. It reports whether it got as far as listening.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection is discarded either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	for {
		signal(wake)
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
