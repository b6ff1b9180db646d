package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCounters are PostgreSQL's cumulative counters at one moment: their differences over a
// run of registrations are its cost in units that carry to other machines.
type pgCounters struct {
	lsn        string
	walFPI     int64 // pg_stat_wal: the whole cluster
	commits    int64 // pg_stat_database: the benchmark's database only
	tuples     int64 // inserted + updated + deleted
	blksHit    int64
	blksRead   int64
	statements int64 // pg_stat_statements calls in the database; -1 without the extension
}

// cost is what one registration cost, on average over a run of them (its email's delivery
// included).
type cost struct {
	Registrations int     `json:"registrations"`
	RoundTrips    float64 `json:"round_trips"` // client turns on the wire: regapi's API and dispatcher
	Statements    float64 `json:"statements"`  // from pg_stat_statements; 0 when missing
	Commits       float64 `json:"commits"`
	RowsWritten   float64 `json:"rows_written"`
	WALBytes      float64 `json:"wal_bytes"`
	// WALBytesNoFPI leaves out the full-page images (pg_walinspect); 0 when missing.
	WALBytesNoFPI   float64 `json:"wal_bytes_without_fpi"`
	FullPageImages  float64 `json:"full_page_images"`
	BufferHitRate   float64 `json:"buffer_hit_rate"`
	RegapiCPUMS     float64 `json:"regapi_cpu_ms"`         // everything regapi did
	RegapiCPUNoHash float64 `json:"regapi_cpu_ms_no_hash"` // less the hash, from the ceiling
	PostgresCPUMS   float64 `json:"postgres_cpu_ms"`
}

// readCounters reads the counters through conn, which is connected to the benchmark's
// database.
func readCounters(ctx context.Context, conn *pgx.Conn) (pgCounters, error) {
	var c pgCounters
	err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, w.wal_fpi,
		d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted, d.blks_hit, d.blks_read
		FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = current_database()`).
		Scan(&c.lsn, &c.walFPI, &c.commits, &c.tuples, &c.blksHit, &c.blksRead)
	if err != nil {
		return c, fmt.Errorf("read PostgreSQL's counters: %w", err)
	}
	c.statements = -1
	var calls int64
	if conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&calls) == nil {
		c.statements = calls
	}
	return c, nil
}

// walBetween returns the WAL written between two LSNs (by the whole cluster) and, when
// pg_walinspect is there, how much of it is not full-page images (else -1).
func walBetween(ctx context.Context, conn *pgx.Conn, from, to string) (all, noFPI float64) {
	var bytes int64
	if conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::bigint`, from, to).Scan(&bytes) != nil {
		return 0, -1
	}
	var rec int64
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_walinspect"); err != nil {
		return float64(bytes), -1
	}
	if conn.QueryRow(ctx, `SELECT coalesce(sum(record_size), 0)::bigint FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn)`,
		from, to).Scan(&rec) != nil {
		return float64(bytes), -1
	}
	return float64(bytes), float64(rec)
}

// waitBackendsGone waits (10 s at most) until no other session is connected to conn's
// database: a backend flushes its statistics when it exits.
func waitBackendsGone(ctx context.Context, conn *pgx.Conn) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		var others int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&others)
		if err != nil || others == 0 {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	// A backend's statistics reach the shared counters a moment after it is gone.
	sleep(ctx, 500*time.Millisecond)
}

// costRun registers n accounts at concurrency c through srv, waits for their emails, stops
// srv (so that PostgreSQL's per-backend statistics are flushed) and returns the cost of
// one registration. hashCPU is the CPU time of one hash at srv's cost.
func (b *bench) costRun(ctx context.Context, srv *server, proxy *tripCounter, n, c int, hashCPU time.Duration) (cost, error) {
	conn, err := pgx.Connect(ctx, srv.databaseURL)
	if err != nil {
		return cost{}, err
	}
	defer conn.Close(context.Background())
	_, _ = conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	before, err := readCounters(ctx, conn)
	if err != nil {
		return cost{}, err
	}
	trips0 := proxy.trips()
	users := newUserPool()
	cl := newClient(c)
	stop := make(chan struct{})
	watch := watchUntil(srv.pid(), time.Now(), stop, nil)
	rec := closedLoop(ctx, c, time.Now(), time.Now().Add(5*time.Minute), n, func(ctx context.Context) attempt {
		return b.registerOp(srv, users)(ctx, cl)
	})
	cl.close()
	if err := b.provider.waitFor(ctx, users.pendingEmails(), time.Minute); err != nil {
		b.logf("cost: %v", err)
	}
	close(stop)
	u := <-watch
	trips := proxy.trips() - trips0
	srv.stop(b)
	waitBackendsGone(ctx, conn)
	after, err := readCounters(ctx, conn)
	if err != nil {
		return cost{}, err
	}
	out, err := perRegistration(len(rec.okLat), trips, before, after, u, hashCPU)
	if err != nil {
		return out, fmt.Errorf("cost: %w (%v)", err, rec.statuses)
	}
	all, noFPI := walBetween(ctx, conn, before.lsn, after.lsn)
	out.WALBytes = all / float64(out.Registrations)
	if noFPI >= 0 {
		out.WALBytesNoFPI = noFPI / float64(out.Registrations)
	}
	b.logf("cost per registration: %.1f round trips, %.1f statements, %.2f commits, %.1f rows, %.0f WAL bytes (%.0f without FPI, %.2f FPI), regapi %.2f CPU-ms (%.2f without the hash), postgres %.2f CPU-ms",
		out.RoundTrips, out.Statements, out.Commits, out.RowsWritten, out.WALBytes, out.WALBytesNoFPI, out.FullPageImages,
		out.RegapiCPUMS, out.RegapiCPUNoHash, out.PostgresCPUMS)
	return out, nil
}

// perRegistration divides what n registrations cost by n: the counters' differences, the
// round trips and the CPU time u saw, less one hash of hashCPU for regapi's part outside it.
func perRegistration(n int, trips int64, before, after pgCounters, u procUsage, hashCPU time.Duration) (cost, error) {
	if n == 0 {
		return cost{}, errors.New("no registration succeeded")
	}
	k := float64(n)
	out := cost{Registrations: n, RoundTrips: float64(trips) / k,
		Commits: float64(after.commits-before.commits) / k, RowsWritten: float64(after.tuples-before.tuples) / k,
		FullPageImages: float64(after.walFPI-before.walFPI) / k,
		RegapiCPUMS:    ms(u.serverCPU) / k, PostgresCPUMS: ms(u.dbCPU) / k}
	out.RegapiCPUNoHash = max(out.RegapiCPUMS-ms(hashCPU), 0)
	if hits, reads := after.blksHit-before.blksHit, after.blksRead-before.blksRead; hits+reads > 0 {
		out.BufferHitRate = float64(hits) / float64(hits+reads)
	}
	if before.statements >= 0 && after.statements >= 0 {
		out.Statements = float64(after.statements-before.statements) / k
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
