package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LockRetry says how a migration waits for the table locks it needs. A migration that alters
// a table in use must wait for the transactions reading it (a report, a pg_dump), and while
// its lock request waits, every request of the running service that touches the table queues
// behind it. So each try waits at most Timeout (PostgreSQL's lock_timeout), the queue behind
// it clears when it gives up, and it tries again after a pause: the service is held up for
// Timeout at most per try, never for the length of the longest reader.
type LockRetry struct {
	// Timeout is the lock_timeout of each try.
	Timeout time.Duration
	// Attempts is how many tries a migration gets before it fails.
	Attempts int
	// Backoff is the pause after the first failed try; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Report, when not nil, is told of each failed try and the pause before the next.
	Report func(msg string)
}

// DefaultLockRetry waits 1 s per try, 10 tries over about a minute and a half.
var DefaultLockRetry = LockRetry{Timeout: time.Second, Attempts: 10, Backoff: time.Second, MaxBackoff: 15 * time.Second}

func (l LockRetry) withDefaults() LockRetry {
	if l.Timeout <= 0 {
		l.Timeout = DefaultLockRetry.Timeout
	}
	if l.Attempts <= 0 {
		l.Attempts = DefaultLockRetry.Attempts
	}
	if l.Backoff <= 0 {
		l.Backoff = DefaultLockRetry.Backoff
	}
	if l.MaxBackoff < l.Backoff {
		l.MaxBackoff = max(l.Backoff, DefaultLockRetry.MaxBackoff)
	}
	return l
}

// withLockRetry runs fn in a transaction whose lock waits are bounded by m.locks.Timeout,
// again after a pause when a lock was not granted in time, up to m.locks.Attempts tries.
// verb ("apply", "revert") names the action in reports.
func (m *Migrator) withLockRetry(ctx context.Context, conn *pgxpool.Conn, verb string, mig migration, fn func(pgx.Tx) error) error {
	l := m.locks
	pause := l.Backoff
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// SET LOCAL ends with the transaction; a migration may still set its own.
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", l.Timeout.Milliseconds())); err != nil {
				return err
			}
			return fn(tx)
		})
		if !lockNotGranted(err) {
			return err
		}
		if attempt >= l.Attempts {
			return fmt.Errorf("gave up after %d tries: a lock it needs was not granted within %s "+
				"(another session holds a table it changes; the service went on meanwhile): %w", attempt, l.Timeout, err)
		}
		if l.Report != nil {
			l.Report(fmt.Sprintf("%s migration %04d_%s: a lock it needs was not granted within %s (try %d of %d); "+
				"the service goes on meanwhile; retrying in %s", verb, mig.version, mig.name, l.Timeout, attempt, l.Attempts, pause))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, l.MaxBackoff)
	}
}

// lockNotGranted reports whether err is a lock wait that ran out (lock_timeout) or ended in a
// deadlock: the transaction rolled back, and trying again later can succeed.
func lockNotGranted(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}
