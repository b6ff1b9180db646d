// Package outbox delivers the emails committed to the transactional outbox: it claims due
// messages with a lease, renders and hands them to the mail provider, and follows one retry
// policy (retrypolicy.go) for failed sends and for a provider that is down as a whole
// (health.go). A message is given up on only into a visible dead state, from which an
// operator can bring it back (DeadEmail, RetryResult).
package outbox

import (
	"context"
	"time"
)

// Message is an outbox row claimed for one delivery attempt.
type Message struct {
	ID             int64
	IdempotencyKey string
	// Payload is the sealed activation email, and KeyID names the secret that sealed it.
	Payload   []byte
	KeyID     []byte
	Attempt   int // 1 for the first attempt
	CreatedAt time.Time
	// EventType is set for an account event (posted to the events receiver), empty for an
	// email.
	EventType string
	// Stale says why the code the email carries is no longer live (DropSuperseded, DropSpent),
	// or is empty: such an email is dropped, never sent.
	Stale string
}

// EventKeyID is the key id of account events: their body is stored as posted, not sealed,
// since it holds no secret.
var EventKeyID = []byte{}

// Why an email is dropped instead of sent: a code that is no longer live must not reach the
// user as if it were new.
const (
	// DropSuperseded: a newer code of its kind was issued to the account.
	DropSuperseded = "superseded"
	// DropSpent: the code was used, or (an activation code) the account is active.
	DropSpent = "spent"
)

// Store is the outbox as kept in the database. Every time it keeps (leases, due times, when
// a message was sent or given up on) is on the database's clock, so that a dispatcher whose
// host clock is off can neither take a message another one holds nor retry one early.
type Store interface {
	// Claim leases up to limit due messages sealed under any of keyIDs for lease, counting
	// one attempt on each, sooner due first. A message whose lease runs out without being
	// marked becomes due again: that is how a message whose sender died is picked up.
	// Concurrent claimers never get the same message.
	Claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int) ([]Message, error)
	// ClaimWaiting is Claim, but it also takes messages waiting for a retry that is not due
	// yet, if their last attempt failed at least minWait ago (never one a claimer holds):
	// after a provider outage ends, the backlog goes out at once instead of each message
	// waiting out its own backoff.
	ClaimWaiting(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]Message, error)
	// MarkSent records that the provider accepted message id; the activation code it
	// carries starts its lifetime then.
	MarkSent(ctx context.Context, id int64) error
	// MarkRetry makes attempt attempt's message due again after delay, recording why it
	// failed. It does nothing if the message was claimed again since (a stale lease). A
	// message retried after a backoff of regapi's may be taken sooner by ClaimWaiting; one
	// whose delay the provider asked for (asked: a Retry-After) never is, by any dispatcher.
	MarkRetry(ctx context.Context, id int64, attempt int, delay time.Duration, reason string, asked bool) error
	// MarkDead gives up on the message, recording why. Same staleness rule as MarkRetry.
	MarkDead(ctx context.Context, id int64, attempt int, reason string) error
	// Drop deletes a message claimed for attempt attempt whose code is no longer live. Same
	// staleness rule as MarkRetry.
	Drop(ctx context.Context, id int64, attempt int) error
}

// DeadEmail is an email given up on, as an operator lists it: never its payload or code.
type DeadEmail struct {
	ID        int64
	Recipient string
	Attempts  int
	LastError string
	DeadSince time.Time
}

// RetryOutcome says what became of one dead email an operator asked to retry.
type RetryOutcome string

// The outcomes of retrying a dead email.
const (
	// Retried: the email is pending again, with its idempotency key and a fresh attempt count.
	Retried RetryOutcome = "retried"
	// Skipped: the email is not sent again; RetryResult.Reason says why.
	Skipped RetryOutcome = "skipped"
	// NotFound: no outbox message has that id.
	NotFound RetryOutcome = "not found"
)

// Reasons for which a dead email is skipped rather than retried: a code that is not its
// account's current one must not reach the user as if it were new.
const (
	SkipNotDead      = "not dead"
	SkipCodeReplaced = "code is no longer the account's current one"
	SkipActive       = "account is active"
	SkipAccountGone  = "account is gone"
)

// RetryResult is what retrying dead email ID did.
type RetryResult struct {
	ID      int64
	Outcome RetryOutcome
	Reason  string // why it was skipped; empty otherwise
}
