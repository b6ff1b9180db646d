package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// burstConcurrency is how many registrations of the burst are in flight at once.
const burstConcurrency = 64

// emailResult is one run of the email pipeline: registrations, and how soon their emails
// reached the provider.
type emailResult struct {
	Name        string      `json:"name"` // "steady" or "burst"
	Hash        argonParams `json:"hash"`
	OfferedRate float64     `json:"offered_per_second,omitempty"`
	Concurrency int         `json:"concurrency,omitempty"`
	// Registrations counts the 201s; RegisteredPerSecond is their pace.
	Registrations       int            `json:"registrations"`
	RegisteredPerSecond float64        `json:"registered_per_second"`
	Statuses            map[string]int `json:"statuses"`
	Delivered           int            `json:"delivered"`
	// CommitToAcceptedMS is read from the outbox: sent_at (the provider accepted) minus
	// created_at (the registration's transaction).
	CommitToAcceptedMS percentiles `json:"commit_to_accepted_ms"`
	// AnsweredToAcceptedMS is measured by the harness: its 201 until the fake provider's
	// acceptance.
	AnsweredToAcceptedMS percentiles `json:"answered_to_accepted_ms"`
	// DrainSeconds (burst): from the last 201 until the last email was accepted.
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
	// DeliveredPerSecond is the pace of acceptances, from the first to the last.
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	ServerCores        float64 `json:"server_cpu_cores"`
	DBCores            float64 `json:"postgres_cpu_cores"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	Note               string  `json:"note,omitempty"`
}

// emailPipeline measures commit → accepted latency at a steady registration rate, then the
// time to drain a burst of registrations, against one regapi with the cheapest hash (the
// default one caps registrations far below the steady rate).
func (b *bench) emailPipeline(ctx context.Context) ([]emailResult, error) {
	srv, err := b.startServer(ctx, "email", cheapHash.env())
	if err != nil {
		return nil, err
	}
	defer srv.stop(b)

	steadyUsers := newUserPool()
	b.logf("email: %.0f registrations/s for %s", b.p.steadyRate, b.p.steadyFor)
	cl := newClient(256)
	start := time.Now()
	watch := watchProcess(ctx, srv.pid(), start, start.Add(b.p.steadyFor), nil)
	rec := openLoop(ctx, b.p.steadyRate, b.p.steadyFor, 1024, func(ctx context.Context) attempt {
		return b.registerOp(srv, steadyUsers)(ctx, cl)
	})
	cl.close()
	steady := emailResult{Name: "steady", Hash: cheapHash, OfferedRate: b.p.steadyRate}
	if err := b.delivery(ctx, srv, rec, steadyUsers, <-watch, &steady); err != nil {
		return nil, err
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	burstUsers := newUserPool()
	b.logf("email: burst of %d registrations at concurrency %d", b.p.burst, burstConcurrency)
	cl = newClient(burstConcurrency)
	start = time.Now()
	stop := make(chan struct{})
	watch = watchUntil(srv.pid(), start, stop, nil)
	rec = closedLoop(ctx, burstConcurrency, start, start.Add(time.Hour), b.p.burst, func(ctx context.Context) attempt {
		return b.registerOp(srv, burstUsers)(ctx, cl)
	})
	cl.close()
	waitErr := b.provider.waitFor(ctx, burstUsers.pendingEmails(), time.Minute)
	close(stop)
	burst := emailResult{Name: "burst", Hash: cheapHash, Concurrency: burstConcurrency}
	if err := b.delivery(ctx, srv, rec, burstUsers, <-watch, &burst); err != nil {
		return nil, err
	}
	if waitErr != nil {
		burst.Note = waitErr.Error()
	}
	return []emailResult{steady, burst}, nil
}

// delivery waits for the emails of the accounts users registered and fills r in.
func (b *bench) delivery(ctx context.Context, srv *server, rec *recorder, users *userPool, u procUsage, r *emailResult) error {
	emails := users.pendingEmails()
	if err := b.provider.waitFor(ctx, emails, time.Minute); err != nil && r.Note == "" {
		r.Note = err.Error()
	}
	r.Registrations, r.Statuses = len(rec.okLat), rec.statuses
	if span := rec.lastOK.Sub(rec.firstOK).Seconds(); span > 0 {
		r.RegisteredPerSecond = float64(len(rec.okLat)-1) / span
	}
	r.ServerCores = u.serverCPU.Seconds() / u.wall.Seconds()
	r.DBCores = u.dbCPU.Seconds() / u.wall.Seconds()
	r.PeakRSSMiB = float64(u.peakRSS) / (1 << 20)
	var answered []time.Duration
	var firstAccept, lastAccept time.Time
	for _, e := range emails {
		at, acc, ok := b.provider.delivery(e)
		if !ok {
			continue
		}
		r.Delivered++
		answered = append(answered, max(acc.Sub(at), 0))
		if acc.After(lastAccept) {
			lastAccept = acc
		}
		if firstAccept.IsZero() || acc.Before(firstAccept) {
			firstAccept = acc
		}
	}
	if span := lastAccept.Sub(firstAccept).Seconds(); r.Delivered > 1 && span > 0 {
		r.DeliveredPerSecond = float64(r.Delivered-1) / span
	}
	r.AnsweredToAcceptedMS = latencyPercentiles(answered)
	if r.Name == "burst" && r.Delivered == len(emails) && len(emails) > 0 {
		r.DrainSeconds = max(lastAccept.Sub(rec.lastOK), 0).Seconds()
	}
	committed, err := outboxLatencies(ctx, srv.databaseURL, emails)
	if err != nil {
		return err
	}
	r.CommitToAcceptedMS = latencyPercentiles(committed)
	b.logf("email %-6s %d registered (%.0f/s), %d delivered (%.1f/s), commit→accepted p50 %.1f ms p99 %.1f ms, drain %.2f s, regapi cpu %.2f, postgres cpu %.2f %s",
		r.Name, r.Registrations, r.RegisteredPerSecond, r.Delivered, r.DeliveredPerSecond, r.CommitToAcceptedMS.P50, r.CommitToAcceptedMS.P99,
		r.DrainSeconds, r.ServerCores, r.DBCores, r.Note)
	return nil
}

// outboxLatencies reads sent_at - created_at of the delivered emails to the given addresses.
func outboxLatencies(ctx context.Context, databaseURL string, to []string) ([]time.Duration, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT (extract(epoch FROM sent_at - created_at) * 1000000)::bigint
		FROM outbox WHERE recipient = ANY($1) AND status = 'sent'`, to)
	micros, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	lat := make([]time.Duration, len(micros))
	for i, us := range micros {
		lat[i] = time.Duration(us) * time.Microsecond
	}
	return lat, nil
}
