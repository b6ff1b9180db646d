package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
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

// serve runs `regapi serve` until ctx is cancelled or one of its parts fails: the HTTP API
// beside the parts it shares with worker.
func serve(ctx context.Context, cfg Config, stdout io.Writer) error {
	// Bound first: a taken port is the commonest start-up failure, and nothing else has
	// started yet that would have to be stopped.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	p, err := startParts(ctx, cfg, stdout, true)
	if err != nil {
		return err
	}
	defer p.pools.close() // after every part has returned: Wait comes first
	api, err := newAPI(p.ctx, cfg, p.logger, postgres.NewAccountStore(p.pools.main, p.wakeups.Committed),
		postgres.NewIdempotencyKeys(p.pools.main), p.keys, p.reg)
	if err != nil {
		return errors.Join(err, stopGroup(p.g))
	}
	p.g.Go(func() error { return serveHTTP(p.ctx, api, ln, p.logger, cfg) })
	return p.g.Wait()
}

// worker runs `regapi worker`, the parts serve shares without the HTTP API, until ctx is
// cancelled or one of them fails.
func worker(ctx context.Context, cfg Config, stdout io.Writer) error {
	p, err := startParts(ctx, cfg, stdout, false)
	if err != nil {
		return err
	}
	defer p.pools.close() // after every part has returned: Wait comes first
	p.logger.Info("email dispatcher started", "provider", cfg.MailProvider)
	return p.g.Wait()
}

// parts is what serve and worker share. Every long-running part runs under g: the email
// dispatcher with its wake-ups and delivery batching, retention, and what serve adds.
// The first failure cancels ctx, which the others run under, and is the exit error, so a
// part that cannot start ends the process at once.
type parts struct {
	ctx    context.Context
	g      *errgroup.Group
	logger *slog.Logger
	keys   *registration.CodeKeys
	pools  pools
	reg    *prometheus.Registry
	// wakeups tell every dispatcher about the emails this process commits, and this
	// process's dispatcher about everyone's.
	wakeups *postgres.Wakeups
}

// startParts builds the parts serve and worker share and starts them in a new group.
// withAPI sizes the database pools for a process that also serves the API.
func startParts(ctx context.Context, cfg Config, stdout io.Writer, withAPI bool) (*parts, error) {
	logger := newLogger(cfg, stdout)
	keys, err := codeKeys(cfg)
	if err != nil {
		return nil, err
	}
	provider, err := newProvider(cfg, logger, stdout)
	if err != nil {
		return nil, err
	}
	pools, err := openPools(ctx, cfg.DatabaseURL, logger, withAPI)
	if err != nil {
		return nil, err
	}
	p := &parts{logger: logger, keys: keys, pools: pools, reg: newRegistry(pools.main, logger),
		wakeups: postgres.NewWakeups(pools.main, logger)}
	p.g, p.ctx = errgroup.WithContext(ctx)
	retention := newRetention(pools.main, cfg, logger, p.reg)
	p.g.Go(func() error { return retention.Run(p.ctx) })
	p.g.Go(func() error { return p.wakeups.Run(p.ctx) })
	startDispatcher(p.ctx, p.g, cfg, pools.dispatcher, provider, keys, logger, p.reg, p.wakeups.C())
	return p, nil
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

// cpuClasses selects the runtime's split of the process's CPU time (garbage collection,
// scavenging, user code, idle) for the Go collector, beside its default metrics.
var cpuClasses = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)}

// newRegistry returns the metrics registry with the Go runtime, process, build and outbox
// collectors.
func newRegistry(pool *pgxpool.Pool, logger *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(cpuClasses)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newOutboxCollector(postgres.NewOutbox(pool).OutboxStats, time.Now, logger), newBuildInfoCollector())
	return reg
}

// startDispatcher adds to g the email dispatcher on pool, woken by wake when emails were
// committed, with the batching that records their delivery.
func startDispatcher(ctx context.Context, g *errgroup.Group, cfg Config, pool *pgxpool.Pool, provider mail.Provider,
	keys *registration.CodeKeys, logger *slog.Logger, reg *prometheus.Registry, wake <-chan struct{}) {
	store := postgres.NewBatchedOutbox(pool)
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
	}, logger, outbox.NewMetrics(reg), wake)
	g.Go(func() error { return store.Run(ctx) })
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
	return registration.NewCodeKeys(cfg.CodeSecret, cfg.CodeSecretsPrevious)
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
