package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regapi/regapi/internal/mail"
)

// outcome is what one delivery attempt leads to.
type outcome struct {
	kind   string    // outcomeSent, outcomeRetry or outcomeDead
	at     time.Time // when sent or given up, or when to retry
	reason string    // why it failed; empty when sent
}

// deliver makes one attempt at m and records its outcome. ctx carries no cancellation from
// shutdown; stop is closed when Run is asked to stop.
func (d *Dispatcher) deliver(ctx context.Context, stop <-chan struct{}, m Message) {
	// Marking is worth retrying only while the claim holds: past it another dispatcher may
	// claim the message again. The margin covers one store call.
	leaseEnd := time.Now().Add(m.LeaseUntil.Sub(d.now()) - storeTimeout)
	start := time.Now()
	err := d.send(ctx, m)
	took := time.Since(start)

	o := d.decide(m, err)
	d.metrics.attempt(o.kind, took)
	if o.kind == outcomeSent {
		d.metrics.accepted(o.at.Sub(m.CreatedAt))
	}
	markErr := d.mark(ctx, stop, leaseEnd, m, o)
	d.logOutcome(m, o, took, err, markErr)
}

// send opens, renders and hands m to the provider within SendTimeout. A payload that
// cannot be opened or rendered will never become sendable: it is a *mail.PermanentError.
func (d *Dispatcher) send(ctx context.Context, m Message) error {
	e, err := d.opener.Open(m.Payload, d.opener.ID())
	if err != nil {
		return &mail.PermanentError{Err: fmt.Errorf("open payload: %w", err)}
	}
	msg, err := RenderActivation(d.cfg.From, e)
	if err != nil {
		return &mail.PermanentError{Err: fmt.Errorf("render email: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	return d.provider.Send(ctx, msg, m.IdempotencyKey)
}

// decide turns the result of attempt m into an outcome: accepted is sent, a permanent
// failure or the last allowed attempt is dead, anything else is retried after a backoff
// no shorter than a throttling provider asked for.
func (d *Dispatcher) decide(m Message, err error) outcome {
	now := d.now()
	switch {
	case err == nil:
		return outcome{kind: outcomeSent, at: now}
	case mail.IsPermanent(err):
		return outcome{kind: outcomeDead, at: now, reason: err.Error()}
	case m.Attempt >= d.cfg.MaxAttempts:
		return outcome{kind: outcomeDead, at: now, reason: fmt.Sprintf("gave up after %d attempts: %v", m.Attempt, err)}
	}
	delay := d.cfg.Backoff(m.Attempt)
	var throttled *mail.ThrottledError
	if errors.As(err, &throttled) {
		delay = max(delay, throttled.RetryAfter)
	}
	return outcome{kind: outcomeRetry, at: now.Add(delay), reason: err.Error()}
}

// mark records o in the store, retrying a failing store while m's lease lasts and Run is
// not stopping. Past that the lease runs out and the message is claimed again, which is
// safe: the provider dedupes on the idempotency key, and the store ignores stale marks.
func (d *Dispatcher) mark(ctx context.Context, stop <-chan struct{}, leaseEnd time.Time, m Message, o outcome) error {
	wait := 50 * time.Millisecond
	for {
		err := d.markOnce(ctx, m, o)
		if err == nil || time.Now().Add(wait).After(leaseEnd) {
			return err
		}
		d.logger.Warn("outbox store failed to record an outcome; retrying",
			"message_id", m.ID, "outcome", o.kind, "error", err.Error())
		select {
		case <-stop:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (d *Dispatcher) markOnce(ctx context.Context, m Message, o outcome) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	switch o.kind {
	case outcomeSent:
		return d.store.MarkSent(ctx, m.ID, o.at)
	case outcomeRetry:
		return d.store.MarkRetry(ctx, m.ID, m.Attempt, o.at, o.reason)
	}
	return d.store.MarkDead(ctx, m.ID, m.Attempt, o.at, o.reason)
}

// logOutcome logs one attempt. It names the message by id only: the code, the body and the
// recipient stay out of the logs.
func (d *Dispatcher) logOutcome(m Message, o outcome, took time.Duration, sendErr, markErr error) {
	attrs := []slog.Attr{
		slog.Int64("message_id", m.ID),
		slog.Int("attempt", m.Attempt),
		slog.String("outcome", o.kind),
		slog.Duration("duration", took),
	}
	level, msg := slog.LevelInfo, "email sent"
	switch o.kind {
	case outcomeRetry:
		level, msg = slog.LevelWarn, "email send failed; will retry"
		attrs = append(attrs, slog.Time("retry_at", o.at))
	case outcomeDead:
		level, msg = slog.LevelError, "email given up on"
	}
	if sendErr != nil {
		attrs = append(attrs, slog.String("error", sendErr.Error()))
	}
	if markErr != nil {
		level, msg = slog.LevelError, msg+"; recording the outcome failed, the message will be claimed again"
		attrs = append(attrs, slog.String("store_error", markErr.Error()))
	}
	d.logger.LogAttrs(context.Background(), level, msg, attrs...)
}
