package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// heldSend is how long the fake provider holds each email while the backlog builds: below
// regapi's longest MAIL_SEND_TIMEOUT (5 s), so that no send fails, and long enough that a
// single send slot delivers next to nothing meanwhile.
const heldSend = 4500 * time.Millisecond

// backlogDelivery queues sp.backlog emails with statistics that say the outbox has none
// pending (ANALYZE just before, automatic ANALYZE of the outbox off), then measures how fast one
// regapi delivers them: the first 99 % of the backlog over the time it took (the last few
// can sit behind a lease of the server that queued them). It also returns the statement
// that took most of PostgreSQL's time meanwhile.
func (b *bench) backlogDelivery(ctx context.Context, databaseURL string, n int, sp scalePlan) (scalePoint, string, error) {
	p := scalePoint{Name: fmt.Sprintf("delivery of a %d-email backlog, stale statistics", sp.backlog)}
	// Vacuum goes on as the schema configures it; only the automatic ANALYZE is kept from
	// noticing the backlog.
	if err := execSQL(ctx, databaseURL, "ANALYZE outbox",
		"ALTER TABLE outbox SET (autovacuum_analyze_threshold = 2000000000, autovacuum_analyze_scale_factor = 100)"); err != nil {
		return p, "", err
	}
	b.provider.setDelay(heldSend)
	env := cheapHash.env()
	env["MAIL_CONCURRENCY"] = "1"
	srv, err := b.serveOn(ctx, fmt.Sprintf("backlog, %d accounts", n), databaseURL, env, nil)
	if err != nil {
		b.provider.setDelay(0)
		return p, "", err
	}
	users := newUserPool()
	cl := newClient(64)
	closedLoop(ctx, 64, time.Now(), time.Now().Add(5*time.Minute), sp.backlog, func(ctx context.Context) attempt {
		return b.registerOp(srv, users)(ctx, cl)
	})
	cl.close()
	srv.stop(b)
	b.provider.setDelay(0)
	emails := users.pendingEmails()
	if err := execSQL(ctx, databaseURL, "SELECT pg_stat_statements_reset()"); err != nil {
		b.logf("backlog: %v (statement figures missing)", err)
	}
	srv, err = b.serveOn(ctx, fmt.Sprintf("delivery, %d accounts", n), databaseURL, cheapHash.env(), nil)
	if err != nil {
		return p, "", err
	}
	defer srv.stop(b)
	start, goal := time.Now(), len(emails)*99/100
	deadline := start.Add(sp.drainFor)
	for b.provider.acceptedCount(emails) < goal && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 50*time.Millisecond)
	}
	done := b.provider.acceptedCount(emails)
	p.PerSecond = float64(done) / time.Since(start).Seconds()
	if done < goal {
		p.Note = fmt.Sprintf("%d of %d delivered within %s", done, len(emails), sp.drainFor)
	}
	slowest := slowestStatement(ctx, databaseURL)
	b.logf("backlog: %d emails, %d delivered at %.0f/s; most time in: %s", len(emails), done, p.PerSecond, slowest)
	return p, slowest, ctx.Err()
}

// slowestStatement describes the statement with the most execution time in
// pg_stat_statements, or "" when the extension is not there.
func slowestStatement(ctx context.Context, databaseURL string) string {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var query string
	var calls int64
	var total, mean float64
	err = conn.QueryRow(ctx, `SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, total_exec_time, mean_exec_time
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 1`).Scan(&query, &calls, &total, &mean)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d calls, %.0f ms in all, %.2f ms each: %.200s", calls, total, mean, query)
}
