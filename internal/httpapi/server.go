// Package httpapi is regapi's HTTP layer: it routes requests, checks Basic Auth credentials,
// decodes and encodes JSON, turns errors into RFC 9457 problem details, limits requests per
// client IP, and logs and measures every request. The decisions themselves belong to the
// registration package.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

// Accounts is what the API needs from the registration service; *registration.Service
// implements it. Errors are the registration package's: sentinels, *registration.ValidationError
// and *registration.RetryError.
type Accounts interface {
	// Register creates a pending account and queues its activation email.
	Register(ctx context.Context, email, password string) (registration.User, error)
	// Authenticate returns the user these credentials belong to, or registration.ErrUnauthorized.
	Authenticate(ctx context.Context, email, password string) (registration.User, error)
	// Activate activates u's account with code.
	Activate(ctx context.Context, u registration.User, code string) (registration.User, error)
	// Resend issues u a new activation code and returns how long it will be valid.
	Resend(ctx context.Context, u registration.User) (time.Duration, error)
}

// Pinger reports whether a dependency the service cannot work without (the database) answers.
type Pinger interface {
	// Ping returns an error when the dependency cannot be reached before ctx ends.
	Ping(ctx context.Context) error
}

// Limits configures the per-client-IP rate limits and the per-account throttle.
type Limits struct {
	// RatePerMinute is how many registrations, and separately how many failed Basic Auth
	// attempts, one client IP may make per minute; zero or less turns both limits off.
	RatePerMinute int
	// TrustedProxies are the networks whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix
	// FailuresPerAccount is how many failed Basic Auth attempts one client IP may make against
	// one account in a burst; they come back over 15 minutes. Zero or less turns it off.
	FailuresPerAccount int
}

// NewServer returns the complete HTTP API. Its metrics are registered in reg and served, with
// whatever else reg holds, at /metrics; it panics if reg already holds metrics of those names.
// Every line it logs for a request goes through logger, tagged with the request's id.
func NewServer(logger *slog.Logger, accounts Accounts, health Pinger, limits Limits, reg *prometheus.Registry) http.Handler {
	m := newMetrics(reg)
	regLimit := newLimiter(limits.RatePerMinute, time.Now)
	auth := &authenticator{
		accounts:   accounts,
		failures:   newLimiter(limits.RatePerMinute, time.Now),
		perAccount: newAccountLimiter(limits.FailuresPerAccount, time.Now),
	}

	mux := http.NewServeMux()
	addRoutes(mux, accounts, auth, regLimit, health, reg, m)

	var h http.Handler = withProblemFallback(mux)
	h = observe(h, mux, logger, limits.TrustedProxies, m)
	return h
}
