package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/postgres"
)

// errNotFound marks a retry that named an email the outbox does not hold.
var errNotFound = errors.New("no such email")

// outboxCommand runs `regapi outbox dead` (list the dead emails) and `regapi outbox retry
// ID... | --all` (make them pending again). Retry prints one line per email: retried, skipped
// with its reason, or not found; it fails when an id was not found, so that a typo in a
// script does not pass silently.
func outboxCommand(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: outbox needs dead or retry", errUsage)
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewOutbox(pool)
	switch args[0] {
	case "dead":
		if len(args) > 1 {
			return fmt.Errorf("%w: outbox dead takes no arguments", errUsage)
		}
		return listDead(ctx, store, stdout)
	case "retry":
		return retryDead(ctx, store, args[1:], stdout)
	}
	return fmt.Errorf("%w: unknown outbox command %q", errUsage, args[0])
}

// listDead prints the dead emails as a table, oldest first; never a payload or a code.
func listDead(ctx context.Context, store *postgres.Outbox, stdout io.Writer) error {
	dead, err := store.DeadEmails(ctx)
	if err != nil {
		return fmt.Errorf("outbox dead: %w", err)
	}
	if len(dead) == 0 {
		fmt.Fprintln(stdout, "no dead emails")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tRECIPIENT\tATTEMPTS\tDEAD SINCE\tLAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\n", d.ID, d.Recipient, d.Attempts, d.DeadSince.UTC().Format(time.RFC3339), d.LastError)
	}
	return w.Flush()
}

// retryDead makes the dead emails args names (or all, with --all) pending again.
func retryDead(ctx context.Context, store *postgres.Outbox, args []string, stdout io.Writer) error {
	var results []outbox.RetryResult
	var err error
	switch {
	case len(args) == 1 && args[0] == "--all":
		results, err = store.RetryAllDead(ctx)
	case len(args) == 0:
		return fmt.Errorf("%w: outbox retry needs email ids or --all", errUsage)
	default:
		ids, perr := parseIDs(args)
		if perr != nil {
			return perr
		}
		results, err = store.RetryDead(ctx, ids)
	}
	if err != nil {
		return fmt.Errorf("outbox retry: %w", err)
	}
	return printRetries(stdout, results)
}

// parseIDs reads outbox ids: positive whole numbers.
func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, len(args))
	for i, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%w: outbox retry: %q is not an email id", errUsage, a)
		}
		ids[i] = id
	}
	return ids, nil
}

// printRetries prints one line per result and counts them; any id not found is an error.
func printRetries(stdout io.Writer, results []outbox.RetryResult) error {
	counts := map[outbox.RetryOutcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
		line := fmt.Sprintf("%d %s", r.ID, r.Outcome)
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "%d retried, %d skipped, %d not found\n", counts[outbox.Retried], counts[outbox.Skipped], counts[outbox.NotFound])
	if counts[outbox.NotFound] > 0 {
		return fmt.Errorf("outbox retry: %d of the ids named: %w", counts[outbox.NotFound], errNotFound)
	}
	return nil
}
