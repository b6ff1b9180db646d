// Package mail puts the third-party email provider behind one interface, with four
// implementations: log (stdout), mailpit (Mailpit's HTTP send API), smtp (any SMTP relay) and
// webhook (a signed Standard Webhooks event). A provider is slow, fails and times out: Send
// only reports which failures are worth retrying and which are final; when and how often to
// retry is the caller's policy.
package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Message is one email ready to send.
type Message struct {
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
	// Kind says what the email is ("activation_code", "password_changed"…), Code is the code
	// it carries, if any, and ValidFor how long that code is valid once accepted: providers
	// that post structured events (webhook) send them as fields.
	Kind     string
	Code     string
	ValidFor time.Duration
}

// Provider hands emails to an email service.
type Provider interface {
	// Send delivers m. Every attempt for one email passes the same idempotencyKey, and a
	// provider that honours it sends the email once. A nil error means the provider accepted
	// the email. A *PermanentError means retrying cannot help; a *ThrottledError asks for a
	// delay; any other error is temporary.
	Send(ctx context.Context, m Message, idempotencyKey string) error
}

// PermanentError is a rejection that retrying cannot fix, such as a refused address.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// ThrottledError is a temporary failure for which the provider named a delay (an HTTP
// answer worth retrying, with Retry-After).
type ThrottledError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
}

// Unwrap returns the underlying error.
func (e *ThrottledError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// messageID derives a valid Message-ID from any idempotency key, the same on every attempt,
// so that a re-sent email can be recognised as the same one.
func messageID(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return "<" + hex.EncodeToString(sum[:16]) + "@regapi>"
}
