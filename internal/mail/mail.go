// Package mail puts the third-party email provider behind one interface. The provider is
// reached over HTTP and is slow, fails and times out: Send reports which failures are worth
// retrying and which are final.
package mail

import (
	"context"
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
	// Code is the activation code the email carries, and ValidFor how long it is valid once
	// accepted: providers that post structured events (webhook) send them as fields.
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

// ThrottledError is a temporary failure for which the provider named a delay (HTTP 429 or
// 503 with Retry-After).
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
