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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

// AccountService is what the API needs from the registration service; *registration.Service
// implements it. Errors are the registration package's: sentinels, *registration.ValidationError
// and *registration.RetryError.
type AccountService interface {
	// Register creates a pending account whose emails are written in lang and queues its
	// activation email.
	Register(ctx context.Context, email, password string, lang registration.Language) (registration.User, error)
	// Authenticate returns the user these credentials belong to, or registration.ErrUnauthorized.
	Authenticate(ctx context.Context, email, password string) (registration.User, error)
	// Activate activates u's account with code.
	Activate(ctx context.Context, u registration.User, code string) (registration.User, error)
	// Resend issues u a new activation code and returns how long it will be valid.
	Resend(ctx context.Context, u registration.User) (time.Duration, error)
	// RequestPasswordReset sends a reset code to email if it holds an account, and returns
	// how long a code is valid either way.
	RequestPasswordReset(ctx context.Context, email string) (time.Duration, error)
	// ResetPassword sets the password of email's account with its reset code.
	ResetPassword(ctx context.Context, email, code, password string) (registration.User, error)
	// ChangePassword gives u's account a new password.
	ChangePassword(ctx context.Context, u registration.User, password string) error
	// RequestEmailChange sends a code to the address u's account asks to move to.
	RequestEmailChange(ctx context.Context, u registration.User, email string) (time.Duration, error)
	// ConfirmEmailChange moves u's account to its new address with the code sent there.
	ConfirmEmailChange(ctx context.Context, u registration.User, code string) (registration.User, error)
	// Delete erases u's account.
	Delete(ctx context.Context, u registration.User) error
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

// Server is the complete HTTP API, an http.Handler. Drain starts its lame-duck phase.
type Server struct {
	handler  http.Handler
	draining atomic.Bool
}

// NewServer returns the complete HTTP API. Its metrics are registered in reg and served, with
// whatever else reg holds, at /metrics; it panics if reg already holds metrics of those names.
// Every line it logs for a request goes through logger, tagged with the request's id.
// Options (AllowOrigins) change the defaults.
func NewServer(logger *slog.Logger, accounts AccountService, health Pinger, limits Limits, reg *prometheus.Registry, opts ...Option) *Server {
	o := options{origins: map[string]bool{}}
	for _, opt := range opts {
		opt(&o)
	}
	m := newMetrics(reg)
	regLimit := newKeyedLimiter(limits.RatePerMinute, time.Minute, time.Now)
	auth := &authenticator{
		accounts:   accounts,
		failures:   newKeyedLimiter(limits.RatePerMinute, time.Minute, time.Now),
		perAccount: newKeyedLimiter(limits.FailuresPerAccount, accountFailureWindow, time.Now),
	}
	s := &Server{}
	mux := http.NewServeMux()
	addRoutes(mux, accounts, auth, regLimit, readiness{db: health, draining: &s.draining}, reg, m, o.retries)

	var h http.Handler = withProblemFallback(mux)
	h = answerPreflights(h, mux, o.origins)
	h = refuseAmbiguousFraming(h)
	h = observe(h, mux, logger, limits.TrustedProxies, m)
	h = exposeToOrigins(h, o.origins)
	s.handler = h
	return s
}

// ServeHTTP answers r. While the server drains, every response asks the client to close its
// connection, so that the next request goes to a fresh connection, and so elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	s.handler.ServeHTTP(w, r)
}

// Drain starts the lame-duck phase before a shutdown: from then on /readyz answers
// 503 not_ready, so that load balancers stop sending, and every response carries
// Connection: close, so that keep-alive clients reconnect; requests are still served as
// before. It cannot be undone; calling it again changes nothing.
func (s *Server) Drain() { s.draining.Store(true) }
