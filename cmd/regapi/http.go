package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/httpapi"
	"github.com/regapi/regapi/internal/password"
	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// shutdownTimeout bounds how long in-flight requests may take to finish once the listener
// closed; with the drain before it (SHUTDOWN_DRAIN, at most 2 s) the process exits within the
// contract's 10 seconds of SIGTERM.
const shutdownTimeout = 7 * time.Second

// newAPI builds the HTTP API on store, with the records of idempotent requests in retries.
func newAPI(ctx context.Context, cfg Config, logger *slog.Logger, store *postgres.AccountStore,
	retries *postgres.IdempotencyKeys, keys *registration.CodeKeys, reg *prometheus.Registry) (*httpapi.Server, error) {
	svc, err := registration.NewService(ctx, store, newHasher(cfg, reg), keys, cfg.Policy, time.Now)
	if err != nil {
		return nil, err
	}
	// Every process of a deployment derives the same key, so that a retry sent to another
	// replica matches its record.
	digestKey, err := hkdf.Key(sha256.New, cfg.CodeSecret, nil, "regapi idempotency digest", 32)
	if err != nil {
		return nil, fmt.Errorf("derive the request digest key: %w", err)
	}
	return httpapi.NewServer(logger, svc, store, httpapi.Limits{
		RatePerMinute:      cfg.RateLimitPerMinute,
		TrustedProxies:     cfg.TrustedProxies,
		FailuresPerAccount: cfg.AuthFailuresPerAccount,
	}, reg, httpapi.AllowOrigins(cfg.CORSAllowedOrigins...), httpapi.RetrySafely(retries, digestKey)), nil
}

// serveHTTP serves api on ln until ctx is cancelled, then shuts down as a lame duck: for
// cfg.ShutdownDrain /readyz fails and every response carries Connection: close while requests
// are still served, so that a load balancer stops sending and keep-alive clients move on
// without an error; then the listener closes and in-flight requests get shutdownTimeout to
// finish. It returns the server's error when serving fails, and nil after a shutdown.
func serveHTTP(ctx context.Context, api *httpapi.Server, ln net.Listener, logger *slog.Logger, cfg Config) error {
	srv := newHTTPServer(ctx, api, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("regapi listening", "addr", ln.Addr().String(), "mail_provider", cfg.MailProvider)

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("draining before shutdown", "drain_ms", cfg.ShutdownDrain.Milliseconds())
	api.Drain()
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-time.After(cfg.ShutdownDrain):
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A client still trickling its request in must not hold the process past the
		// contract's 10 seconds: cut it off. Every completed request was answered.
		logger.Warn("requests still open at the shutdown deadline; closing them", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// newHTTPServer returns the http.Server of api, with its timeouts and limits.
func newHTTPServer(ctx context.Context, api http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Requests do not end with the shutdown signal: in-flight ones finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		// OPTIONS * is an unknown target like any other (404), not net/http's empty 200.
		DisableGeneralOptionsHandler: true,
	}
}

// newHasher returns the password hasher cfg describes, with its queue metrics on reg.
func newHasher(cfg Config, reg *prometheus.Registry) *password.Hasher {
	queueWait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "regapi_password_hash_queue_wait_seconds",
		Help:    "Time a request waited for a password hashing slot.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	busy := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "regapi_password_hash_busy_seconds_total",
		Help: "Time the password hashing slots were held, summed over the slots; its rate over HASH_CONCURRENCY is their busy fraction.",
	})
	hasher := password.NewHasher(password.Params{
		MemoryKiB:   cfg.Argon2Memory,
		Iterations:  cfg.Argon2Iterations,
		Parallelism: cfg.Argon2Parallelism,
	}, cfg.HashConcurrency, cfg.HashQueueSize, cfg.HashQueueTimeout, password.WithQueueWait(queueWait), password.WithBusyTime(busy))
	reg.MustRegister(queueWait, busy, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "regapi_password_hash_queue_depth",
		Help: "Requests waiting for a password hashing slot.",
	}, func() float64 { return float64(hasher.QueueDepth()) }))
	return hasher
}
