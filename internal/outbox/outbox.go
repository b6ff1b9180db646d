// Package outbox delivers the emails committed to the transactional outbox: it claims due
// messages with a lease, hands them to the mail provider, retries failures with exponential
// backoff and jitter, and gives up on a message only into a visible dead state.
package outbox

import (
	"context"
	"time"
)

// Message is an outbox row claimed for one delivery attempt.
type Message struct {
	ID             int64
	IdempotencyKey string
	// Payload is the sealed activation email.
	Payload   []byte
	Attempt   int // 1 for the first attempt
	CreatedAt time.Time
	// LeaseUntil is when the claim runs out and the message becomes due again.
	LeaseUntil time.Time
}

// Store is the outbox as kept in the database.
type Store interface {
	// Claim leases up to limit due messages sealed under keyID until now+lease, counting one
	// attempt on each.
	// A message whose lease runs out without being marked becomes due again: that is how a
	// message whose sender died is picked up. Concurrent claimers never get the same message.
	Claim(ctx context.Context, keyID []byte, now time.Time, lease time.Duration, limit int) ([]Message, error)
	// MarkSent records that the provider accepted message id at at; the activation code it
	// carries starts its lifetime then.
	MarkSent(ctx context.Context, id int64, at time.Time) error
	// MarkRetry schedules attempt attempt's message for another try at retryAt, recording why
	// it failed. It does nothing if the message was claimed again since (a stale lease).
	MarkRetry(ctx context.Context, id int64, attempt int, retryAt time.Time, reason string) error
	// MarkDead gives up on the message, recording why. Same staleness rule as MarkRetry.
	MarkDead(ctx context.Context, id int64, attempt int, at time.Time, reason string) error
}
