package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/regapi/regapi/internal/mail"
)

// This file is the retry policy, whole: what a failed send leads to (decide), how long a
// message waits before its next attempt (Backoff), and how a failing store is retried when an
// outcome must be recorded (mark). The providers only classify their failures
// (*mail.PermanentError, *mail.ThrottledError, anything else temporary); what the provider's
// state as a whole changes is in health.go.

// storeTimeout bounds one store call made while recording an outcome, so that a hung
// database cannot hold a send slot, or shutdown, for long.
const storeTimeout = 3 * time.Second

// The bounds of the wait between two tries at recording an outcome in a failing store.
const (
	minMarkWait = 50 * time.Millisecond
	maxMarkWait = 2 * time.Second
)

// outcome is what one delivery attempt leads to.
type outcome struct {
	kind   string        // outcomeSent, outcomeRetry, outcomeDead or outcomeDropped
	delay  time.Duration // for outcomeRetry: how long until the next attempt
	asked  bool          // for outcomeRetry: the provider asked for that delay (Retry-After)
	reason string        // why it failed; empty when sent
}

// decide turns the result of attempt m into an outcome: accepted is sent, a permanent
// failure or the last allowed attempt is dead, anything else is retried after a backoff no
// shorter than a throttling provider asked for.
func (c Config) decide(m Message, err error) outcome {
	switch {
	case err == nil:
		return outcome{kind: outcomeSent}
	case mail.IsPermanent(err):
		return outcome{kind: outcomeDead, reason: err.Error()}
	case m.Attempt >= c.MaxAttempts:
		return outcome{kind: outcomeDead, reason: fmt.Sprintf("gave up after %d attempts: %v", m.Attempt, err)}
	}
	asked := retryAfter(err)
	return outcome{kind: outcomeRetry, delay: max(c.Backoff(m.Attempt), asked), asked: asked > 0, reason: err.Error()}
}

// retryAfter returns the delay a throttling provider asked for, zero when it named none.
func retryAfter(err error) time.Duration {
	var throttled *mail.ThrottledError
	if errors.As(err, &throttled) {
		return throttled.RetryAfter
	}
	return 0
}

// Backoff returns the delay before retrying after failed attempt number attempt (1 for the
// first). It is drawn uniformly between BaseBackoff and BaseBackoff·2^(attempt-1), capped at
// MaxBackoff: full jitter spreads out the retries of emails that failed together, and the
// floor of one BaseBackoff keeps a flapping provider from being hammered. c must have its
// defaults filled in.
func (c Config) Backoff(attempt int) time.Duration {
	ceiling := c.BaseBackoff
	for i := 1; i < attempt && ceiling < c.MaxBackoff; i++ {
		if ceiling > c.MaxBackoff/2 {
			ceiling = c.MaxBackoff
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, c.MaxBackoff)
	if ceiling <= c.BaseBackoff {
		return ceiling
	}
	// #nosec G404 -- jitter only spreads retries out; it need not be unpredictable.
	return c.BaseBackoff + rand.N(ceiling-c.BaseBackoff+1)
}

// mark records o in the store, retrying a failing store until leaseEnd (on this process's
// monotonic clock) or until stop is closed. Past leaseEnd the message may be claimed again,
// which is safe: the provider dedupes on the idempotency key, and the store ignores stale
// marks.
func (d *Dispatcher) mark(ctx context.Context, stop <-chan struct{}, leaseEnd time.Time, m Message, o outcome) error {
	wait := minMarkWait
	for {
		err := d.markOnce(ctx, m, o)
		if err == nil {
			d.db.OK()
			return nil
		}
		d.db.Fail(fmt.Errorf("record the outcome of outbox message %d: %w", m.ID, err))
		if time.Now().Add(wait).After(leaseEnd) {
			return err
		}
		select {
		case <-stop:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, maxMarkWait)
	}
}

func (d *Dispatcher) markOnce(ctx context.Context, m Message, o outcome) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	switch o.kind {
	case outcomeSent:
		return d.store.MarkSent(ctx, m.ID)
	case outcomeRetry:
		return d.store.MarkRetry(ctx, m.ID, m.Attempt, o.delay, o.reason, o.asked)
	case outcomeDropped:
		return d.store.Drop(ctx, m.ID, m.Attempt)
	}
	return d.store.MarkDead(ctx, m.ID, m.Attempt, o.reason)
}
