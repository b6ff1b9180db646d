package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// scalePlan is what the scale mode preloads and how big its runs are.
type scalePlan struct {
	sizes    []int // accounts preloaded, besides the empty database measured first
	costRuns int   // registrations of the run that measures the cost of one
	backlog  int   // emails queued before the delivery run
	drainFor time.Duration
}

// noHashNote marks a default-hash point around which the ceiling samples finished no hash:
// the machine was too busy for it, so that its having no success says nothing of regapi.
const noHashNote = "no hash finished in the ceiling samples around this point"

// scaleResult is one database size of the scale mode.
type scaleResult struct {
	Accounts        int     `json:"accounts"`
	PreloadSeconds  float64 `json:"preload_seconds"`
	BytesPerAccount float64 `json:"bytes_per_account"`
	Cost            cost    `json:"cost_per_registration"`
	// CostAgain are further cost runs right after the first, without a checkpoint between:
	// their full-page images show what checkpoint spacing saves.
	CostAgain []cost       `json:"cost_again,omitempty"`
	Points    []scalePoint `json:"points"`
	// SlowestDelivery is the statement that took most of PostgreSQL's time while the
	// backlog was delivered, from pg_stat_statements.
	SlowestDelivery string `json:"slowest_delivery_statement,omitempty"`
}

// scalePoint is one measured point at one size, and its ratio to the empty database.
type scalePoint struct {
	Name      string  `json:"name"`
	PerSecond float64 `json:"per_second"`
	P99MS     float64 `json:"p99_ms,omitempty"`
	OfCeiling float64 `json:"of_ceiling,omitempty"`
	Ratio     float64 `json:"ratio_to_empty"`
	Note      string  `json:"note,omitempty"`
}

// scale measures every point on an empty database, then on each preloaded size, and sets
// each point's ratio to the empty database's.
func (b *bench) scale(ctx context.Context, sp scalePlan) ([]scaleResult, error) {
	var out []scaleResult
	for _, n := range append([]int{0}, sp.sizes...) {
		r, err := b.scaleRun(ctx, sp, n)
		if err != nil {
			return out, err
		}
		for i, p := range r.Points {
			if len(out) > 0 && i < len(out[0].Points) && out[0].Points[i].PerSecond > 0 {
				r.Points[i].Ratio = p.PerSecond / out[0].Points[i].PerSecond
			} else if len(out) == 0 {
				r.Points[i].Ratio = 1
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// scaleRun measures one size: a fresh database, preloaded with n accounts.
func (b *bench) scaleRun(ctx context.Context, sp scalePlan, n int) (scaleResult, error) {
	r := scaleResult{Accounts: n}
	b.seq++
	dbName := fmt.Sprintf("regapi_bench_%s_scale_%d", b.runID, n)
	direct, err := createDatabase(ctx, b.o.adminURL, dbName)
	if err != nil {
		return r, err
	}
	defer dropDatabase(b, dbName)
	b.logf("scale: %d accounts", n)
	prepare := func(ctx context.Context, databaseURL string) error {
		if n == 0 {
			return execSQL(ctx, databaseURL, "VACUUM (ANALYZE)")
		}
		d, err := b.preload(ctx, databaseURL, n)
		r.PreloadSeconds = d.Seconds()
		if err == nil {
			r.BytesPerAccount, err = bytesPerAccount(ctx, databaseURL)
		}
		return err
	}
	runs := 1
	if b.o.scenarios["cost"] {
		runs = 3 // the same run twice more: the full-page images once pages have been written
	}
	costs, err := b.costRuns(ctx, direct, n, sp.costRuns, runs, prepare)
	if err != nil || runs > 1 {
		r.Cost, r.CostAgain = costs[0], costs[1:]
		return r, err
	}
	r.Cost = costs[0]
	for _, hash := range []string{"cheap", "default"} {
		points, err := b.scaleEndpoints(ctx, direct, n, hash)
		if err != nil {
			return r, err
		}
		r.Points = append(r.Points, points...)
	}
	delivery, slowest, err := b.backlogDelivery(ctx, direct, n, sp)
	if err != nil {
		return r, err
	}
	r.Points, r.SlowestDelivery = append(r.Points, delivery), slowest
	return r, nil
}

// costRuns measures the cost of a registration runs times in a row, each with k
// registrations against a regapi whose database connections go through a round-trip
// counter; prepare runs before the first. It always returns at least one cost.
func (b *bench) costRuns(ctx context.Context, direct string, n, k, runs int,
	prepare func(context.Context, string) error) ([]cost, error) {
	out := []cost{{}}
	trips, proxied, err := proxyFor(direct)
	if err != nil {
		return out, err
	}
	defer trips.close()
	cheapCPU := time.Duration(float64(time.Second) * float64(b.cores()) / b.cheapCeiling)
	for i := range runs {
		srv, err := b.serveOn(ctx, fmt.Sprintf("cheap hash, %d accounts, round trips counted", n), proxied, cheapHash.env(), prepare)
		if err != nil {
			return out, err
		}
		prepare = nil
		srv.databaseURL = direct
		c, err := b.costRun(ctx, srv, trips, k, 64, cheapCPU)
		if err != nil {
			return out, err
		}
		if i == 0 {
			out[0] = c
		} else {
			out = append(out, c)
		}
	}
	return out, nil
}

// scaleEndpoints measures, at concurrency 64, register, activate and /me with the cheapest
// hash, or register with the default one.
func (b *bench) scaleEndpoints(ctx context.Context, databaseURL string, n int, hashName string) ([]scalePoint, error) {
	hash := cheapHash
	if hashName == "default" {
		hash = defaultHash
	}
	srv, err := b.serveOn(ctx, fmt.Sprintf("%s hash, %d accounts", hashName, n), databaseURL, hash.env(), nil)
	if err != nil {
		return nil, err
	}
	defer srv.stop(b)
	e := &endpointRuns{b: b, srv: srv, name: hashName, hash: hash, users: newUserPool()}
	e.measure(ctx, "register", 64, b.registerOp(srv, e.users), nil)
	if hashName == "cheap" {
		topUp := func() {
			need := int(e.fastest*(b.p.warmup+b.p.window).Seconds()*1.25) + 64
			b.topUp(ctx, srv, e.users, need)
		}
		e.measure(ctx, "activate", 64, b.activateOp(srv, e.users), topUp)
		e.measure(ctx, "me", 64, b.meOp(srv, e.users), nil)
	}
	var out []scalePoint
	for _, p := range e.points {
		sp := scalePoint{Name: fmt.Sprintf("%s hash: %s at 64", hashName, p.scenario),
			PerSecond: float64(len(p.rec.okLat)) / b.p.window.Seconds(), P99MS: latencyPercentiles(p.rec.okLat).P99}
		if hashName == "default" && p.sample+1 < len(e.samples) {
			// A ceiling sample of zero (a machine so busy that no hash finished) gives no ratio.
			if around := (e.samples[p.sample] + e.samples[p.sample+1]) / 2; around > 0 {
				sp.OfCeiling = sp.PerSecond / around
			} else {
				sp.Note = noHashNote
			}
		}
		out = append(out, sp)
	}
	return out, ctx.Err()
}

// proxyFor starts a round-trip counter in front of the server of databaseURL and returns
// it with the URL that goes through it.
func proxyFor(databaseURL string) (*tripCounter, string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, "", err
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	t, err := newTripCounter(net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, "", err
	}
	u.Host = t.addr()
	return t, u.String(), nil
}

// execSQL runs statements on the database at databaseURL.
func execSQL(ctx context.Context, databaseURL string, statements ...string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, q := range statements {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
