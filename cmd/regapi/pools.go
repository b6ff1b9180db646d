package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultPoolConns is the size of the API's connection pool unless DATABASE_URL sets
// pool_max_conns. pgx's own default, max(4, CPUs), leaves requests queueing for a connection
// while PostgreSQL has capacity to spare: most of a transaction's time is round trips and the
// commit's WAL flush, during which its connection idles.
const defaultPoolConns = 16

// dispatcherConns is the size of the email dispatcher's own pool when it runs next to the
// API: its claims and marks never wait behind requests for a connection.
const dispatcherConns = 4

// Session bounds of the API's and the dispatcher's connections, unless DATABASE_URL sets
// them (…?lock_timeout=5000): a statement that waits for a lock, or runs, longer fails,
// and the request answers 503 unavailable with Retry-After instead of hanging. A migration
// waits for its locks a second at a time (postgres.DefaultLockRetry), well within them.
const (
	sessionLockTimeout      = "3s"
	sessionStatementTimeout = "5s"
)

// boundSessions sets the session bounds on pcfg for what databaseURL leaves unset.
func boundSessions(pcfg *pgxpool.Config) {
	for name, value := range map[string]string{"lock_timeout": sessionLockTimeout, "statement_timeout": sessionStatementTimeout} {
		if _, set := pcfg.ConnConfig.RuntimeParams[name]; !set {
			pcfg.ConnConfig.RuntimeParams[name] = value
		}
	}
}

// applyPoolDefaults sets regapi's defaults on pcfg, parsed from databaseURL, for what the
// URL leaves unset.
func applyPoolDefaults(pcfg *pgxpool.Config, databaseURL string) {
	if u, err := url.Parse(databaseURL); err == nil && !u.Query().Has("pool_max_conns") {
		pcfg.MaxConns = defaultPoolConns
	}
}

// pools are the connection pools of serve and worker: main for the API and retention, and
// the email dispatcher's, its own next to the API so that its claims and marks never wait
// behind requests for a connection (the worker's dispatcher shares main).
type pools struct {
	main, dispatcher *pgxpool.Pool
}

// openPools opens the pools of serve (withAPI) or worker.
func openPools(ctx context.Context, databaseURL string, logger *slog.Logger, withAPI bool) (pools, error) {
	main, err := openPool(ctx, databaseURL, logger, boundSessions)
	if err != nil {
		return pools{}, err
	}
	if !withAPI {
		return pools{main: main, dispatcher: main}, nil
	}
	pcfg := main.Config()
	pcfg.MaxConns, pcfg.MinConns = dispatcherConns, 0
	dispatcher, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		main.Close()
		return pools{}, fmt.Errorf("dispatcher database pool: %w", err)
	}
	return pools{main: main, dispatcher: dispatcher}, nil
}

// close closes both pools.
func (p pools) close() {
	if p.dispatcher != p.main {
		p.dispatcher.Close()
	}
	p.main.Close()
}

// openPool configures the connection pool without connecting: the API starts while the
// database is down, answers 503 meanwhile, and recovers by itself when it returns. Each of
// adjust then changes the configuration.
func openPool(ctx context.Context, databaseURL string, logger *slog.Logger, adjust ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: cannot be parsed as a PostgreSQL connection URL")
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		// An unreachable host must fail a request, or `migrate`, in seconds, not hang it.
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	applyPoolDefaults(pcfg, databaseURL)
	for _, f := range adjust {
		f(pcfg)
	}
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
