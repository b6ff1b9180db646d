package registration

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Sentinel errors returned by the Service. Callers match them with errors.Is.
var (
	// ErrEmailTaken: the address belongs to an active account or to a pending one whose code is
	// still valid.
	ErrEmailTaken = errors.New("email address already registered")
	// ErrUnauthorized: unknown email or wrong password.
	ErrUnauthorized = errors.New("invalid credentials")
	// ErrAlreadyActive: the account needs no activation.
	ErrAlreadyActive = errors.New("account already active")
	// ErrAccountPending: the account must be activated first.
	ErrAccountPending = errors.New("account not active yet")
	// ErrInvalidCode: the code is not the live one; the try was counted.
	ErrInvalidCode = errors.New("invalid code")
	// ErrCodeExpired: the code's lifetime ran out; a new one must be requested.
	ErrCodeExpired = errors.New("code expired")
	// ErrTooManyAttempts: the code was burned by wrong tries; a new one must be requested.
	ErrTooManyAttempts = errors.New("too many wrong codes")
	// ErrResendCooldown: no new code may be issued yet (cooldown or daily quota); see RetryAfter.
	ErrResendCooldown = errors.New("no new code yet")
	// ErrOverloaded: the password hasher's queue is full; the request may be retried.
	ErrOverloaded = errors.New("service overloaded")
	// ErrUnavailable: the database cannot be reached right now; the request may be retried.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrRequestAnswered: another attempt of the same request (same Idempotency-Key) took
	// effect first; this one changed nothing.
	ErrRequestAnswered = errors.New("request answered by another attempt")
	// ErrNotFound: the Store holds no such account.
	ErrNotFound = errors.New("not found")
)

// ValidationError lists the fields of a request that break the rules, with a message for each.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	msg := "invalid input:"
	for _, name := range names {
		msg += fmt.Sprintf(" %s: %s;", name, e.Fields[name])
	}
	return msg
}

// RetryError is an error that ends once a delay has passed, such as a cooldown.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return fmt.Sprintf("%v: retry in %s", e.Err, e.After) }

// Unwrap returns the sentinel the delay belongs to.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns how long to wait before err stops applying, if err carries a delay.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}
