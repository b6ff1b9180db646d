package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// cleanup applies the retention rules once and prints what they removed: `regapi cleanup`,
// for cron or a one-off job. It is safe while the service runs: one process at a time
// applies retention, and a pass that finds another one at work says so and removes nothing.
func cleanup(ctx context.Context, cfg Config, stdout io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	pool, err := openPool(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	removed, err := newRetention(pool, cfg, logger, prometheus.NewRegistry()).RunOnce(ctx)
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	fmt.Fprintln(stdout, removed)
	return nil
}
