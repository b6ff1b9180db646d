package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/regapi/regapi/internal/mail"
)

// deliver makes one attempt at m and records its outcome, retrying the store until leaseEnd.
// ctx carries no cancellation from shutdown; stop is closed when Run is asked to stop.
func (d *Dispatcher) deliver(ctx context.Context, stop <-chan struct{}, leaseEnd time.Time, m Message) {
	if m.Stale != "" {
		o := outcome{kind: outcomeDropped, reason: "its code is no longer live: " + m.Stale}
		d.metrics.dropped()
		markErr := d.mark(ctx, stop, leaseEnd, m, o)
		d.logOutcome(m, o, 0, nil, markErr)
		return
	}
	start := time.Now()
	answered, err := d.send(ctx, m)
	took := time.Since(start)
	if answered {
		if d.health.observe(err, start, time.Now()) {
			d.logger.Info("email provider accepts again; sending the waiting emails now")
			select {
			case d.recovered <- struct{}{}:
			default: // Run is due to claim already
			}
		}
		d.metrics.providerState(d.health.down())
	}

	o := d.cfg.decide(m, err)
	if m.EventType != "" {
		d.metrics.event(m.EventType, o.kind)
	} else {
		d.metrics.attempt(o.kind, took)
		if o.kind == outcomeSent {
			d.metrics.accepted(time.Since(m.CreatedAt))
		}
	}
	markErr := d.mark(ctx, stop, leaseEnd, m, o)
	d.logOutcome(m, o, took, err, markErr)
}

// send opens, renders and hands m to the provider within SendTimeout, or posts it, an
// account event, to the event poster. answered reports whether the email provider was asked
// at all (an event's receiver is no measure of the provider's health). A payload that
// cannot be opened or rendered will never become sendable: it is a *mail.PermanentError.
func (d *Dispatcher) send(ctx context.Context, m Message) (answered bool, err error) {
	if m.EventType != "" {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		defer cancel()
		return false, d.events.Post(ctx, m.Payload, m.IdempotencyKey)
	}
	e, err := d.opener.Open(m.Payload, m.KeyID)
	if err != nil {
		return false, &mail.PermanentError{Err: fmt.Errorf("open payload: %w", err)}
	}
	msg, err := d.cfg.Templates.Render(d.cfg.From, e)
	if err != nil {
		return false, &mail.PermanentError{Err: fmt.Errorf("render email: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	return true, d.provider.Send(ctx, msg, m.IdempotencyKey)
}

// logOutcome logs one attempt. It names the message by id only: the code, the body and the
// recipient stay out of the logs.
func (d *Dispatcher) logOutcome(m Message, o outcome, took time.Duration, sendErr, markErr error) {
	attrs := []slog.Attr{
		slog.Int64("message_id", m.ID),
		slog.Int("attempt", m.Attempt),
		slog.String("outcome", o.kind),
		slog.Float64("duration_ms", milliseconds(took)),
	}
	what := "email"
	if m.EventType != "" {
		what = "event"
		attrs = append(attrs, slog.String("event_type", m.EventType))
	}
	level, msg := slog.LevelInfo, what+" sent"
	switch o.kind {
	case outcomeRetry:
		level, msg = slog.LevelWarn, what+" send failed; will retry"
		attrs = append(attrs, slog.Float64("retry_in_ms", milliseconds(o.delay)))
	case outcomeDead:
		level, msg = slog.LevelError, what+" given up on"
	case outcomeDropped:
		msg = "email dropped unsent"
		attrs = append(attrs, slog.String("reason", o.reason))
	}
	if sendErr != nil {
		attrs = append(attrs, slog.String("error", sendErr.Error()))
	}
	if markErr != nil {
		// The message is claimed again once its lease ends, and the provider deduplicates on
		// its key: nothing for a person to do (an outage of the store is logged on its own).
		level, msg = max(level, slog.LevelWarn), msg+"; recording the outcome failed, the message will be claimed again"
		attrs = append(attrs, slog.String("store_error", markErr.Error()))
	}
	d.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// milliseconds is d in the unit every regapi log line uses for durations.
func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
