// Command loadgen is regapi's benchmark harness. In one run it measures the machine's
// argon2id ceiling, starts regapi (bin/regapi) against fresh databases with a fake email
// provider of its own, drives it with constant-concurrency and constant-rate load from
// 127.0.0.1, and writes the results as a table (stdout and results.md), JSON (results.json)
// and a PNG chart (chart.png).
//
//	loadgen -mode full  -out bench/results   # `make bench`: a few minutes
//	loadgen -mode smoke -out DIR             # `make bench-smoke`: a few seconds, for CI
//
// It is not a test: missed targets are reported, not failed. It fails only when the
// benchmark itself cannot run (no database, regapi does not start, no request succeeds).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are loadgen's command-line settings.
type options struct {
	mode     string
	regapi   string
	adminURL string
	out      string
	mailpit  string
	pprof    bool
	only     map[string]bool // parts to run: default, cheap, email
	dbParams string          // added to each server's DATABASE_URL query
	conc     string          // overrides the plan's concurrencies
	window   time.Duration   // overrides the plan's measured window
	rate     float64         // overrides the plan's steady registration rate
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "full", "full (a few minutes) or smoke (a few seconds)")
	fs.StringVar(&o.regapi, "regapi", "bin/regapi", "the regapi binary to benchmark")
	fs.StringVar(&o.adminURL, "admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL URL of a role that may CREATE DATABASE; each server gets a fresh database there")
	fs.StringVar(&o.out, "out", "bench/results", "directory for results.json, results.md and chart.png")
	fs.StringVar(&o.mailpit, "mailpit", "", "optional Mailpit base URL: the fake provider also forwards every email there")
	fs.BoolVar(&o.pprof, "pprof", false, "fetch CPU profiles of regapi during the register runs at the middle concurrency "+
		"(regapi must be built with -tags pprof)")
	fs.StringVar(&o.dbParams, "db-params", "", "query parameters added to regapi's DATABASE_URL, e.g. pool_max_conns=16")
	fs.StringVar(&o.conc, "concurrency", "", "comma-separated concurrencies instead of the mode's (e.g. 64)")
	fs.DurationVar(&o.window, "window", 0, "measured time of each point instead of the mode's")
	fs.Float64Var(&o.rate, "rate", 0, "registrations/s of the email pipeline's steady run instead of the mode's")
	only := fs.String("only", "default,cheap,email", "the parts to run, comma-separated: default (hash), cheap (hash), email")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.only = map[string]bool{}
	for part := range strings.SplitSeq(*only, ",") {
		if part = strings.TrimSpace(part); part != "default" && part != "cheap" && part != "email" {
			return o, fmt.Errorf("-only: unknown part %q (want default, cheap or email)", part)
		}
		o.only[part] = true
	}
	if o.mode != "full" && o.mode != "smoke" {
		return o, fmt.Errorf("-mode: want full or smoke, got %q", o.mode)
	}
	return o, nil
}

// plan is how long and how hard each part of a run goes.
type plan struct {
	concurrency []int
	warmup      time.Duration // load before each measured window, not recorded
	window      time.Duration // measured time of each point
	ceilingFor  time.Duration // each sample of the argon2id ceiling
	steadyRate  float64       // registrations/s of the email pipeline's steady run
	steadyFor   time.Duration
	burst       int // registrations of the email pipeline's burst
	retries     int // how often a disturbed point is measured again
}

func planFor(mode string) plan {
	if mode == "smoke" {
		return plan{concurrency: []int{8}, warmup: 200 * time.Millisecond, window: time.Second,
			ceilingFor: 500 * time.Millisecond, steadyRate: 50, steadyFor: 2 * time.Second, burst: 200, retries: 0}
	}
	return plan{concurrency: []int{8, 64, 256}, warmup: 2 * time.Second, window: 10 * time.Second,
		ceilingFor: 3 * time.Second, steadyRate: 200, steadyFor: 10 * time.Second, burst: 5000, retries: 2}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	p := planFor(o.mode)
	if o.window > 0 {
		p.window = o.window
	}
	if o.rate > 0 {
		p.steadyRate = o.rate
	}
	if o.conc != "" {
		p.concurrency = nil
		for f := range strings.SplitSeq(o.conc, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 1 {
				return fmt.Errorf("-concurrency: want whole numbers, got %q", f)
			}
			p.concurrency = append(p.concurrency, c)
		}
	}
	b, err := newBench(ctx, o, p, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := b.runAll(ctx)
	if err != nil {
		return err
	}
	if err := writeReport(rep, o.out, stdout); err != nil {
		return err
	}
	// A run that measured nothing somewhere means that the harness or regapi is broken:
	// its figures are written for the diagnosis, and the run fails.
	return rep.sane()
}
