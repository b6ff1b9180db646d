package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/regapi/regapi/internal/httpapi"
	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/password"
	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// shutdownTimeout bounds how long in-flight requests may take to finish after SIGTERM; the
// contract promises an exit within 10 seconds.
const shutdownTimeout = 8 * time.Second

// serve runs the email dispatcher and, when withHTTP is set, the HTTP API, until ctx is
// cancelled; then it stops accepting, lets in-flight requests and sends finish, and returns.
func serve(ctx context.Context, cfg Config, stdout io.Writer, withHTTP bool) error {
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.CodeSecretGenerated {
		logger.Warn("CODE_SECRET is not set: using a random secret for this process; " +
			"codes and emails issued by another process, or before a restart, will not work")
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := registration.NewCodeKeys(cfg.CodeSecret)
	if err != nil {
		return err
	}
	store := postgres.NewStore(pool)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newOutboxCollector(store.OutboxStats, time.Now, logger))

	dispatcherStore := store
	if withHTTP {
		dispatcherPool, err := openDispatcherPool(ctx, pool)
		if err != nil {
			return err
		}
		defer dispatcherPool.Close()
		dispatcherStore = postgres.NewStore(dispatcherPool)
	}
	dispatcher := outbox.NewDispatcher(dispatcherStore, newProvider(cfg, stdout), keys, outbox.Config{
		From:        cfg.MailFrom,
		SendTimeout: cfg.MailSendTimeout,
		MaxAttempts: cfg.MailMaxAttempts,
		Concurrency: cfg.MailConcurrency,
	}, logger, outbox.NewMetrics(reg), time.Now)
	dispatched := make(chan error, 1)
	go func() { dispatched <- dispatcher.Run(ctx, dispatcherStore.Wakeups(ctx, logger)) }()

	var serveErr error
	if withHTTP {
		serveErr = serveHTTP(ctx, cfg, logger, store, keys, reg)
	} else {
		logger.Info("email dispatcher started", "provider", cfg.MailProvider)
		<-ctx.Done()
	}
	// The dispatcher stops claiming when ctx ends and returns once its sends are done.
	return errors.Join(serveErr, <-dispatched)
}

// serveHTTP builds the API and serves it on cfg.HTTPAddr until ctx is cancelled.
func serveHTTP(ctx context.Context, cfg Config, logger *slog.Logger, store *postgres.Store, keys *registration.CodeKeys, reg *prometheus.Registry) error {
	svc, err := registration.NewService(ctx, store, newHasher(cfg, reg), keys, cfg.Policy, time.Now)
	if err != nil {
		return err
	}
	handler := httpapi.NewServer(logger, svc, store, httpapi.Limits{
		RatePerMinute:      cfg.RateLimitPerMinute,
		TrustedProxies:     cfg.TrustedProxies,
		FailuresPerAccount: cfg.AuthFailuresPerAccount,
	}, reg)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("regapi listening", "addr", ln.Addr().String(), "mail_provider", cfg.MailProvider)

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
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
	return nil
}

// newHasher returns the password hasher cfg describes, with its queue metrics on reg.
func newHasher(cfg Config, reg *prometheus.Registry) *password.Hasher {
	queueWait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "regapi_password_hash_queue_wait_seconds",
		Help:    "Time a request waited for a password hashing slot.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	hasher := password.NewHasher(password.Params{
		MemoryKiB:   cfg.Argon2Memory,
		Iterations:  cfg.Argon2Iterations,
		Parallelism: cfg.Argon2Parallelism,
	}, cfg.HashConcurrency, cfg.HashQueueSize, cfg.HashQueueTimeout, password.WithQueueWait(queueWait))
	reg.MustRegister(queueWait, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "regapi_password_hash_queue_depth",
		Help: "Requests waiting for a password hashing slot.",
	}, func() float64 { return float64(hasher.QueueDepth()) }))
	return hasher
}

// openPool configures the connection pool without connecting: the API starts while the
// database is down, answers 503 meanwhile, and recovers by itself when it returns.
func openPool(ctx context.Context, databaseURL string, logger *slog.Logger) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: cannot be parsed as a PostgreSQL connection URL")
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		// An unreachable host must fail a request, or `migrate`, in seconds, not hang it.
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	applyPoolDefaults(pcfg, databaseURL)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil && logger != nil {
		logger.Warn("database not reachable yet; retrying on demand", "error", err.Error())
	}
	return pool, nil
}

// newProvider returns the email provider cfg names.
func newProvider(cfg Config, stdout io.Writer) mail.Provider {
	if cfg.MailProvider == "mailpit" {
		return mail.NewMailpitProvider(cfg.MailpitURL, &http.Client{})
	}
	return mail.NewLogProvider(stdout)
}
