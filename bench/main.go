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
	mode      string
	regapi    string
	adminURL  string
	out       string
	mailpit   string
	pprof     bool
	only      map[string]bool   // parts to run: default, cheap, email
	dbParams  string            // added to each server's DATABASE_URL query
	conc      string            // overrides the plan's concurrencies
	window    time.Duration     // overrides the plan's measured window
	rate      float64           // overrides the plan's steady registration rate
	sizes     []int             // scale mode: accounts to preload
	serverEnv map[string]string // settings added to every regapi under test
	scenarios map[string]bool   // endpoints measured: register, activate, me
	delay     time.Duration     // the fake provider's latency
	burst     int               // overrides the plan's burst size
	// eventAccounts and eventDelay override the plan's events run.
	eventAccounts int
	eventDelay    time.Duration
	eventChain    int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "full", "full (a few minutes), smoke (a few seconds) or scale (preloaded databases; long)")
	fs.StringVar(&o.regapi, "regapi", "bin/regapi", "the regapi binary to benchmark")
	fs.StringVar(&o.adminURL, "admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL URL of a role that may CREATE DATABASE; each server gets a fresh database there")
	fs.StringVar(&o.out, "out", "bench/results", "directory for results.json, results.md and chart.png")
	fs.StringVar(&o.mailpit, "mailpit", "", "optional Mailpit base URL: the fake provider also forwards every email there")
	fs.BoolVar(&o.pprof, "pprof", false, "fetch CPU profiles of regapi during every default-hash point and the cheap-hash "+
		"register run at the middle concurrency, profile the ceiling loop, and split the accounting by them "+
		"(regapi must be built with -tags pprof)")
	fs.StringVar(&o.dbParams, "db-params", "", "query parameters added to regapi's DATABASE_URL, e.g. pool_max_conns=16")
	fs.StringVar(&o.conc, "concurrency", "", "comma-separated concurrencies instead of the mode's (e.g. 64)")
	fs.DurationVar(&o.window, "window", 0, "measured time of each point instead of the mode's")
	fs.Float64Var(&o.rate, "rate", 0, "registrations/s of the email pipeline's steady run instead of the mode's")
	sizes := fs.String("sizes", "1000000,10000000", "scale mode: comma-separated numbers of accounts to preload")
	env := fs.String("server-env", "", "settings added to every regapi under test, e.g. GOGC=200,HASH_CONCURRENCY=3")
	scenarios := fs.String("scenarios", "register,activate,me", "the endpoints measured by the default and cheap parts: register, activate, me, "+
		"and the flows after sign-up reset (known and unknown addresses interleaved), reset-confirm, email-change (request and confirm); "+
		"in scale mode, cost measures only the cost per registration, three times")
	fs.DurationVar(&o.delay, "provider-delay", 0, "how long the fake email provider takes to answer, e.g. 200ms")
	fs.IntVar(&o.burst, "burst", 0, "registrations of the email pipeline's burst instead of the mode's")
	fs.IntVar(&o.eventAccounts, "event-accounts", 0, "accounts making three events each in the events part, instead of the mode's")
	fs.IntVar(&o.eventChain, "event-chain", 3, "events per account in the events part's slow-receiver run: 3 (register, activate, change the password) "+
		"or 1 (register only: the same run without an order to keep, for comparison)")
	fs.DurationVar(&o.eventDelay, "event-delay", 0, "the event receiver's latency in the events part's ordered run, instead of the mode's (200ms)")
	only := fs.String("only", "default,cheap,email,events", "the parts to run, comma-separated: default (hash), cheap (hash), email, events")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.only = map[string]bool{}
	for part := range strings.SplitSeq(*only, ",") {
		if part = strings.TrimSpace(part); part != "default" && part != "cheap" && part != "email" && part != "events" {
			return o, fmt.Errorf("-only: unknown part %q (want default, cheap, email or events)", part)
		}
		o.only[part] = true
	}
	if o.eventChain != 1 && o.eventChain != 3 {
		return o, fmt.Errorf("-event-chain: want 1 or 3, got %d", o.eventChain)
	}
	if o.mode != "full" && o.mode != "smoke" && o.mode != "scale" {
		return o, fmt.Errorf("-mode: want full, smoke or scale, got %q", o.mode)
	}
	var err error
	if o.sizes, err = wholeNumbers("-sizes", *sizes); err != nil {
		return o, err
	}
	if o.serverEnv, err = settings(*env); err != nil {
		return o, err
	}
	o.scenarios = map[string]bool{}
	for s := range strings.SplitSeq(*scenarios, ",") {
		o.scenarios[strings.TrimSpace(s)] = true
	}
	return o, nil
}

// plan is how long and how hard each part of a run goes.
type plan struct {
	scale       scalePlan
	concurrency []int
	warmup      time.Duration // load before each measured window, not recorded
	window      time.Duration // measured time of each point
	ceilingFor  time.Duration // each sample of the argon2id ceiling
	steadyRate  float64       // registrations/s of the email pipeline's steady run
	steadyFor   time.Duration
	burst       int // registrations of the email pipeline's burst
	retries     int // how often a disturbed point is measured again
	// eventAccounts make three events each against a receiver answering in eventDelay.
	eventAccounts int
	eventDelay    time.Duration
}

func planFor(mode string) plan {
	if mode == "smoke" {
		return plan{scale: scalePlan{sizes: []int{10_000}, costRuns: 300, backlog: 1000, drainFor: 30 * time.Second}, concurrency: []int{8}, warmup: 200 * time.Millisecond, window: time.Second,
			ceilingFor: 500 * time.Millisecond, steadyRate: 50, steadyFor: 2 * time.Second, burst: 200, retries: 0,
			eventAccounts: 50, eventDelay: 200 * time.Millisecond}
	}
	scale := scalePlan{costRuns: 3000, backlog: 50_000, drainFor: 3 * time.Minute}
	if mode == "scale" {
		return plan{scale: scale, concurrency: []int{64}, warmup: 2 * time.Second, window: 10 * time.Second,
			ceilingFor: 3 * time.Second, retries: 1}
	}
	return plan{concurrency: []int{8, 64, 256}, warmup: 2 * time.Second, window: 10 * time.Second,
		ceilingFor: 3 * time.Second, steadyRate: 200, steadyFor: 10 * time.Second, burst: 5000, retries: 2,
		eventAccounts: 1000, eventDelay: 200 * time.Millisecond}
}

// wholeNumbers parses a comma-separated list of positive whole numbers.
func wholeNumbers(flagName, list string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("%s: want positive whole numbers, got %q", flagName, f)
		}
		out = append(out, c)
	}
	return out, nil
}

// settings parses KEY=VALUE,KEY=VALUE.
func settings(list string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(list) == "" {
		return out, nil
	}
	for kv := range strings.SplitSeq(list, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-server-env: want KEY=VALUE, got %q", kv)
		}
		out[k] = v
	}
	return out, nil
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
	if o.mode == "scale" {
		p.scale.sizes = o.sizes
	}
	if o.burst > 0 {
		p.burst = o.burst
	}
	if o.eventAccounts > 0 {
		p.eventAccounts = o.eventAccounts
	}
	if o.eventDelay > 0 {
		p.eventDelay = o.eventDelay
	}
	if o.conc != "" {
		if p.concurrency, err = wholeNumbers("-concurrency", o.conc); err != nil {
			return err
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
