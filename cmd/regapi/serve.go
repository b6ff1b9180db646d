package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// serve runs `regapi serve` (withHTTP) or `regapi worker` until ctx is cancelled or one of
// its parts fails. Every long-running part runs under one errgroup: the HTTP server, the
// email dispatcher with its wake-up listener and delivery batching, the NOTIFY sender and
// retention. The first failure cancels the others and is the exit error, so a port that
// cannot be bound ends the process at once.
func serve(ctx context.Context, cfg Config, stdout io.Writer, withHTTP bool) error {
	logger := newLogger(cfg, stdout)
	var ln net.Listener
	if withHTTP {
		// Bound first: a taken port is the commonest start-up failure, and nothing else has
		// started yet that would have to be stopped.
		var err error
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		defer ln.Close()
	}
	keys, err := codeKeys(cfg)
	if err != nil {
		return err
	}
	provider, err := newProvider(cfg, stdout)
	if err != nil {
		return err
	}
	pools, err := openPools(ctx, cfg.DatabaseURL, logger, withHTTP)
	if err != nil {
		return err
	}
	defer pools.close() // after every part has returned: Wait comes first
	reg := newRegistry(pools.main, logger)
	g, gctx := errgroup.WithContext(ctx)
	retention := newRetention(pools.main, cfg, logger, reg)
	g.Go(func() error { return retention.Run(gctx) })
	startDispatcher(gctx, g, cfg, pools.dispatcher, provider, keys, logger, reg)
	if !withHTTP {
		logger.Info("email dispatcher started", "provider", cfg.MailProvider)
		return g.Wait()
	}
	notifier := postgres.NewNotifier(pools.main)
	g.Go(func() error { return notifier.Run(gctx) })
	api, err := newAPI(gctx, cfg, logger, postgres.NewAccounts(pools.main, notifier.Wake),
		postgres.NewIdempotencyKeys(pools.main), keys, reg)
	if err != nil {
		return errors.Join(err, stopGroup(g))
	}
	g.Go(func() error { return serveHTTP(gctx, api, ln, logger, cfg) })
	return g.Wait()
}

// newLogger returns the JSON logger of serve and worker, warning when CODE_SECRET was made up.
func newLogger(cfg Config, stdout io.Writer) *slog.Logger {
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.CodeSecretGenerated {
		logger.Warn("CODE_SECRET is not set: using a random secret for this process; " +
			"codes and emails issued by another process, or before a restart, will not work")
	}
	return logger
}

// newRegistry returns the metrics registry with the process, build and outbox collectors.
func newRegistry(pool *pgxpool.Pool, logger *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newOutboxCollector(postgres.NewOutbox(pool).OutboxStats, time.Now, logger), newBuildInfoCollector())
	return reg
}

// startDispatcher adds to g the email dispatcher on pool, with the wake-up listener that
// tells it when emails were committed and the batching that records their delivery.
func startDispatcher(ctx context.Context, g *errgroup.Group, cfg Config, pool *pgxpool.Pool, provider mail.Provider,
	keys *registration.CodeKeys, logger *slog.Logger, reg *prometheus.Registry) {
	store, wakeups := postgres.NewOutbox(pool), postgres.NewWakeups(pool, logger)
	var events outbox.EventPoster
	// Checked when the configuration was read: it fails here only when unset.
	if w, err := mail.NewEventWebhook(cfg.EventsWebhookURL, cfg.EventsWebhookSecret, nil, logger); err == nil {
		events = w
	}
	dispatcher := outbox.NewDispatcher(store, provider, events, keys, outbox.Config{
		From:        cfg.MailFrom,
		Templates:   cfg.EmailTemplates,
		SendTimeout: cfg.MailSendTimeout,
		MaxAttempts: cfg.MailMaxAttempts,
		Concurrency: cfg.MailConcurrency,
	}, logger, outbox.NewMetrics(reg), wakeups.C())
	g.Go(func() error { return store.Run(ctx) })
	g.Go(func() error { return wakeups.Run(ctx) })
	// The dispatcher stops claiming when ctx ends and returns once its sends are done.
	g.Go(func() error { return dispatcher.Run(ctx) })
}

// stopGroup is for a start-up that failed half way: the parts already in g are told to stop
// (their context is the group's, cancelled when one returns an error) and waited for.
func stopGroup(g *errgroup.Group) error {
	g.Go(func() error { return errStartup })
	if err := g.Wait(); !errors.Is(err, errStartup) {
		return err
	}
	return nil
}

// errStartup cancels a group whose start-up failed.
var errStartup = errors.New("start-up failed")

// codeKeys returns the code keys of cfg: CODE_SECRET, and the retired CODE_SECRET_PREVIOUS.
func codeKeys(cfg Config) (*registration.CodeKeys, error) {
	previous := make([]string, len(cfg.CodeSecretsPrevious))
	for i, secret := range cfg.CodeSecretsPrevious {
		previous[i] = hex.EncodeToString(secret)
	}
	return registration.NewCodeKeys(hex.EncodeToString(cfg.CodeSecret), previous)
}

// newRetention returns the retention rules of cfg, applied to the database behind pool.
func newRetention(pool *pgxpool.Pool, cfg Config, logger *slog.Logger, reg prometheus.Registerer) *postgres.Retention {
	return postgres.NewRetention(pool, postgres.RetentionConfig{
		PendingAccounts: cfg.PendingAccountRetention,
		Outbox:          cfg.OutboxRetention,
		CodeTTL:         cfg.Policy.CodeTTL,
		Events:          cfg.Policy.Events,
	}, logger, reg)
}
