package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/regapi/regapi/internal/postgres"
)

// migrate runs `migrate up`, `migrate down [N]` or `migrate status`.
func migrate(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	action, n, err := parseMigrateArgs(args)
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	// Each migration waits for its table locks a second at a time, so that the running
	// service's requests never queue behind it for longer; every wait is reported.
	m := postgres.NewMigratorWith(pool, postgres.LockRetry{Report: func(msg string) { fmt.Fprintln(stdout, msg) }})
	switch action {
	case "up":
		err = m.Up(ctx)
	case "down":
		err = m.Down(ctx, n)
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", action, err)
	}
	return printMigrationStatus(ctx, m, stdout)
}

// parseMigrateArgs reads `up`, `down [N]` or `status`; N <= 0 (or none) means all.
func parseMigrateArgs(args []string) (action string, n int, err error) {
	if len(args) == 0 {
		return "", 0, fmt.Errorf("%w: migrate needs up, down [N] or status", errUsage)
	}
	action = args[0]
	switch {
	case action == "down" && len(args) == 2:
		n, err = strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("%w: migrate down takes a positive number, got %q", errUsage, args[1])
		}
	case (action == "up" || action == "status" || action == "down") && len(args) == 1:
	default:
		return "", 0, fmt.Errorf("%w: migrate needs up, down [N] or status", errUsage)
	}
	return action, n, nil
}

func printMigrationStatus(ctx context.Context, m *postgres.Migrator, stdout io.Writer) error {
	list, err := m.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, s := range list {
		state, at := "pending", ""
		if s.Applied {
			state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%04d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
	}
	return w.Flush()
}
