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

// statementCacheCapacity bounds each connection's cache of prepared statements, and of
// statement descriptions, unless DATABASE_URL sets statement_cache_capacity or
// description_cache_capacity. regapi runs about 60 distinct statements; pgx's default of 512
// makes every connection allocate two maps sized for 512 entries, about 1 MiB over the two
// pools, which the garbage collector scans in every cycle, and a cycle runs every few password
// hashes.
const statementCacheCapacity = 128

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
	u, err := url.Parse(databaseURL)
	if err != nil {
		return
	}
	q := u.Query()
	if !q.Has("pool_max_conns") {
		pcfg.MaxConns = defaultPoolConns
	}
	if !q.Has("statement_cache_capacity") {
		pcfg.ConnConfig.StatementCacheCapacity = statementCacheCapacity
	}
	if !q.Has("description_cache_capacity") {
		pcfg.ConnConfig.DescriptionCacheCapacity = statementCacheCapacity
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
