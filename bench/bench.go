package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Argon2id cost of the two server configurations: the contract's default, where the hash is
// the limit, and the cheapest regapi accepts, where the database path is.
var (
	defaultHash = argonParams{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}
	cheapHash   = argonParams{MemoryKiB: 8, Iterations: 1, Parallelism: 1}
)

// bench holds what every part of one run shares.
type bench struct {
	o          options
	p          plan
	progress   io.Writer
	runID      string
	codeSecret string
	provider   *fakeProvider
	stopMail   func()
	seq        int // databases created, for their names
	servers    int // servers started
	// cheapCeiling is the argon2id ceiling at the cheapest cost, hashes/s on every core.
	cheapCeiling float64
}

func (b *bench) cores() int { return runtime.NumCPU() }

func newBench(ctx context.Context, o options, p plan, progress io.Writer) (*bench, error) {
	var id [4]byte
	_, _ = rand.Read(id[:])
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	prov := newFakeProvider(o.mailpit)
	prov.setDelay(o.delay)
	url, stop, err := serveLocal(prov)
	if err != nil {
		return nil, fmt.Errorf("fake email provider: %w", err)
	}
	prov.url = url
	return &bench{o: o, p: p, progress: progress, runID: hex.EncodeToString(id[:]),
		codeSecret: hex.EncodeToString(secret), provider: prov, stopMail: stop}, nil
}

func (b *bench) close() { b.stopMail() }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// runAll runs every part of the benchmark in order and returns the report.
func (b *bench) runAll(ctx context.Context) (*report, error) {
	rep := &report{Mode: b.o.mode, Started: time.Now().UTC().Format(time.RFC3339),
		WindowSeconds: b.p.window.Seconds(), WarmupSeconds: b.p.warmup.Seconds()}
	rep.Machine = describeMachine(ctx, b.o.adminURL)
	rep.HashConcurrency = runtime.NumCPU()

	cheap := measureCeiling(ctx, cheapHash, runtime.NumCPU(), b.p.ceilingFor/4, b.p.ceilingFor, false)
	b.logf("argon2id ceiling at %s: %.0f hashes/s", cheapHash, cheap.HashesPerSecond)
	rep.Ceilings = map[string]ceiling{"cheap": cheap}
	b.cheapCeiling = cheap.HashesPerSecond
	findPostmaster(ctx, b.o.adminURL)
	if b.o.mode == "scale" {
		return b.scaleOnly(ctx, rep)
	}
	for _, cfg := range []struct {
		name string
		hash argonParams
	}{{"default", defaultHash}, {"cheap", cheapHash}} {
		if !b.o.only[cfg.name] {
			continue
		}
		c, results, err := b.endpoints(ctx, cfg.name, cfg.hash)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, results...)
		if cfg.name == "default" {
			rep.Ceilings["default"] = c
		}
	}
	if b.o.only["email"] {
		var err error
		if rep.Email, err = b.emailPipeline(ctx); err != nil {
			return nil, err
		}
	}
	if b.o.only["events"] {
		var err error
		if rep.Events, err = b.eventsPipeline(ctx); err != nil {
			return nil, err
		}
	}
	if b.o.mode == "smoke" {
		// The preload, at a size CI affords: it breaks when the schema moves under it.
		var err error
		if rep.Scale, err = b.scale(ctx, b.p.scale); err != nil {
			return nil, err
		}
	}
	rep.Finished = time.Now().UTC().Format(time.RFC3339)
	rep.Targets = evaluateTargets(rep)
	return rep, nil
}

// scaleOnly runs the scale mode: the preloaded sizes, nothing else.
func (b *bench) scaleOnly(ctx context.Context, rep *report) (*report, error) {
	var err error
	rep.Scale, err = b.scale(ctx, b.p.scale)
	rep.Finished = time.Now().UTC().Format(time.RFC3339)
	rep.Targets = evaluateTargets(rep)
	return rep, err
}

// point is one measured run before it becomes a result.
type point struct {
	scenario string
	c        int
	rec      *recorder
	usage    procUsage
	sample   int // index of the ceiling sample taken just before it
	retries  int
	profile  []byte // regapi's CPU profile over the window, with -pprof
}

// maxOtherCores is how much CPU other processes may use during a point before it counts as
// disturbed and is measured again (at most the plan's retries times).
const maxOtherCores = 0.2

// endpointRuns measures the endpoints against one server.
type endpointRuns struct {
	b       *bench
	srv     *server
	name    string
	hash    argonParams
	users   *userPool
	samples []float64    // argon2id ceiling samples (default hash)
	hashCPU []float64    // CPU-ms per hash of each sample
	loops   []cpuAccount // where the cores went during each sample
	points  []point
	fastest float64 // most registrations/s seen
}

// endpoints measures register, activate and GET /v1/users/me at every concurrency of the
// plan, against one regapi hashing with hash. With the default hash, the argon2id ceiling is
// sampled before every point and after the last, with the server idle: on a shared machine
// it drifts by tens of percent within minutes, so each point is compared with the mean of
// the samples around it, and the ceiling returned is the mean of all of them.
func (b *bench) endpoints(ctx context.Context, name string, hash argonParams) (ceiling, []result, error) {
	env := hash.env()
	if b.o.wantsFlows() {
		for k, v := range flowsEnv() {
			env[k] = v
		}
	}
	srv, err := b.startServer(ctx, name, env)
	if err != nil {
		return ceiling{}, nil, err
	}
	defer srv.stop(b)
	e := &endpointRuns{b: b, srv: srv, name: name, hash: hash, users: newUserPool()}
	for _, c := range b.p.concurrency {
		e.measure(ctx, "register", c, b.registerOp(srv, e.users), nil)
	}
	if !b.o.scenarios["activate"] && !b.o.scenarios["me"] {
		e.flows(ctx)
		return e.results(ctx)
	}
	// Each activation uses up a pending account, and activating costs about what registering
	// does: before each try, make sure that it cannot run dry.
	topUp := func() {
		need := int(e.fastest*(b.p.warmup+b.p.window).Seconds()*1.25) + 64
		b.topUp(ctx, srv, e.users, need)
	}
	for _, c := range b.p.concurrency {
		e.measure(ctx, "activate", c, b.activateOp(srv, e.users), topUp)
	}
	for _, c := range b.p.concurrency {
		e.measure(ctx, "me", c, b.meOp(srv, e.users), nil)
	}
	e.flows(ctx)
	return e.results(ctx)
}

// results turns the measured points into results; with the default hash, also the ceiling.
func (e *endpointRuns) results(ctx context.Context) (ceiling, []result, error) {
	b, name, hash := e.b, e.name, e.hash
	if err := ctx.Err(); err != nil {
		return ceiling{}, nil, err
	}
	var out []result
	for _, p := range e.points {
		around := 0.0
		if name == "default" {
			around = (e.samples[p.sample] + e.samples[p.sample+1]) / 2
		}
		whole := newResult(p.scenario, name, hash, p.c, p.rec, p.usage, around)
		parts := []result{whole}
		if len(p.rec.sub) > 0 {
			// A point of interleaved kinds (reset: known and unknown addresses) is reported per
			// kind; the CPU figures are the whole point's.
			parts = nil
			for _, class := range slices.Sorted(maps.Keys(p.rec.sub)) {
				r := newResult(class, name, hash, p.c, p.rec.sub[class], p.usage, around)
				r.CPUPerOKMS = whole.CPUPerOKMS
				// A reset request computes no hash: the ceiling says nothing of it.
				r.OfCeiling, r.P99TargetMS = 0, 0
				parts = append(parts, r)
			}
		}
		for _, r := range parts {
			if name == "default" && r.CPUPerOKMS > 0 && len(p.rec.sub) == 0 {
				r.HashCPUMS = (e.hashCPU[p.sample] + e.hashCPU[p.sample+1]) / 2
				r.HashShareOfCPU = r.HashCPUMS / r.CPUPerOKMS
				r.Account, r.CeilingAccount = e.account(p, r.OK), &e.loops[p.sample]
			}
			r.Retries = p.retries
			r.EmailsPerSecond = float64(b.provider.acceptedBetween(p.rec.from, p.rec.to)) / r.Seconds
			out = append(out, r)
		}
	}
	if name != "default" {
		return ceiling{}, out, nil
	}
	return newCeiling(hash, e.samples, b.p.ceilingFor), out, nil
}

func (e *endpointRuns) sampleCeiling(ctx context.Context) {
	warmup := e.b.p.ceilingFor / 10
	if len(e.samples) == 0 {
		warmup = e.b.p.ceilingFor / 2 // the first one also makes the heap grow to size
	}
	c := measureCeiling(ctx, e.hash, runtime.NumCPU(), warmup, e.b.p.ceilingFor, e.b.o.pprof)
	e.samples, e.hashCPU = append(e.samples, c.HashesPerSecond), append(e.hashCPU, c.CPUMSPerHash)
	e.loops = append(e.loops, *c.Account)
}

// measure measures one point, again when it was disturbed: when other processes used more
// than maxOtherCores meanwhile, or when the argon2id ceiling sampled before and after it
// differs by more than maxCeilingDrift (host-level neighbours, invisible in /proc, show so).
// prepare, when not nil, runs before each try, ahead of the ceiling sample that precedes it.
func (e *endpointRuns) measure(ctx context.Context, scenario string, c int, op func(context.Context, *client) attempt, prepare func()) {
	b := e.b
	for try := 0; ctx.Err() == nil; try++ {
		if prepare != nil {
			prepare()
		}
		if e.name == "default" && (len(e.samples) == 0 || prepare != nil) {
			e.sampleCeiling(ctx)
		}
		before := len(e.samples) - 1
		var profile func() []byte
		if b.o.pprof && (e.name == "default" || scenario == "register" && c == b.p.concurrency[len(b.p.concurrency)/2]) {
			profile = e.srv.profileDuring(b, b.p.warmup, b.p.window, fmt.Sprintf("cpu-%s-%s-c%d.pprof", scenario, e.name, c))
		}
		rec, u := b.measure(ctx, e.srv, c, op)
		var prof []byte
		if profile != nil {
			prof = profile()
		}
		if e.name == "default" {
			e.sampleCeiling(ctx)
		}
		ok := float64(len(rec.okLat)) / b.p.window.Seconds()
		if scenario == "register" {
			e.fastest = max(e.fastest, ok)
		}
		b.logf("%-8s %-8s c=%-3d %8.1f ok/s  p50 %7.1f ms  p99 %7.1f ms  %s  regapi cpu %.2f  rss %.0f MiB  %s",
			e.name, scenario, c, ok, latencyPercentiles(rec.okLat).P50, latencyPercentiles(rec.okLat).P99,
			statusList(rec.statuses), u.serverCPU.Seconds()/u.wall.Seconds(), float64(u.peakRSS)/(1<<20), e.ceilingNote(before))
		for _, class := range slices.Sorted(maps.Keys(rec.sub)) {
			part := rec.sub[class]
			b.logf("%-8s %-13s c=%-3d %8.1f ok/s  p50 %7.2f ms  p99 %7.2f ms  %s", e.name, class, c,
				float64(len(part.okLat))/b.p.window.Seconds(), latencyPercentiles(part.okLat).P50,
				latencyPercentiles(part.okLat).P99, statusList(part.statuses))
		}
		disturbed := e.disturbance(u, before)
		if disturbed == "" || try >= b.p.retries || ctx.Err() != nil {
			e.points = append(e.points, point{scenario, c, rec, u, before, try, prof})
			return
		}
		b.logf("%s: measuring again", disturbed)
		sleep(ctx, 2*time.Second)
	}
}

// account accounts for point p, at which regapi answered ok requests with a hash each, from
// the user time per hash of the ceiling samples around it.
func (e *endpointRuns) account(p point, ok int) *cpuAccount {
	perHash := (e.loops[p.sample].UserMSPerHash + e.loops[p.sample+1].UserMSPerHash) / 2
	slots := e.b.cores()
	if n, err := strconv.Atoi(e.b.o.serverEnv["HASH_CONCURRENCY"]); err == nil && n > 0 {
		slots = n
	}
	a := pointAccount(p.usage, ok, time.Duration(perHash*float64(time.Millisecond)), e.b.cores(), slots)
	a.addProfile(p.profile, int64(ok), e.b.cores(), p.usage.wall)
	return &a
}

// maxCeilingDrift is how much the ceiling samples around a point may differ, relative to
// their mean, before the point counts as disturbed.
const maxCeilingDrift = 0.15

// disturbance says what disturbed a point measured with usage u after ceiling sample before,
// or "".
func (e *endpointRuns) disturbance(u procUsage, before int) string {
	if other := u.otherCores(); other > maxOtherCores {
		return fmt.Sprintf("other processes used %.2f cores meanwhile", other)
	}
	if before < 0 || before+1 >= len(e.samples) {
		return ""
	}
	a, z := e.samples[before], e.samples[before+1]
	if mean := (a + z) / 2; mean > 0 && math.Abs(a-z)/mean > maxCeilingDrift {
		return fmt.Sprintf("the argon2id ceiling moved from %.1f to %.1f hashes/s meanwhile", a, z)
	}
	return ""
}

func (e *endpointRuns) ceilingNote(before int) string {
	if before < 0 || before+1 >= len(e.samples) {
		return ""
	}
	return fmt.Sprintf("(ceiling %.1f → %.1f/s)", e.samples[before], e.samples[before+1])
}

// measure runs op at concurrency c for the plan's warm-up and window, watching the server.
//
// Meanwhile the load generator runs on one P (GOMAXPROCS 1): it needs a fraction of a core,
// and a second P only adds wake-ups of its idle threads, on the cores regapi needs.
func (b *bench) measure(ctx context.Context, srv *server, c int, op func(context.Context, *client) attempt) (*recorder, procUsage) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	start := time.Now()
	from, to := start.Add(b.p.warmup), start.Add(b.p.warmup+b.p.window)
	watch := watchProcess(ctx, srv.pid(), from, to, srv.counters)
	cl := newClient(c)
	defer cl.close()
	rec := closedLoop(ctx, c, from, to, -1, func(ctx context.Context) attempt { return op(ctx, cl) })
	return rec, <-watch
}

// topUp registers accounts until users holds at least n pending ones, and waits (a minute
// at most) until the codes of n of them have arrived.
func (b *bench) topUp(ctx context.Context, srv *server, users *userPool, n int) {
	if missing := n - users.pendingCount(); missing > 0 {
		b.logf("registering %d more accounts for the activation runs", missing)
		cl := newClient(16)
		defer cl.close()
		closedLoop(ctx, 4*runtime.NumCPU(), time.Now(), time.Now().Add(time.Hour), missing, func(ctx context.Context) attempt {
			return b.registerOp(srv, users)(ctx, cl)
		})
	}
	deadline := time.Now().Add(time.Minute)
	for users.readyCount(b.provider.code) < n && ctx.Err() == nil {
		if time.Now().After(deadline) {
			// The runs take what has arrived; a slow email pipeline shows in its own runs.
			b.logf("top-up: only %d of %d codes arrived within a minute; going on", users.readyCount(b.provider.code), n)
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// newEmail returns a fresh address, unique across runs and servers. It starts with a hash
// of its number, so that new addresses land all over the email indexes, as real ones do,
// rather than next to one another at one end.
func (b *bench) newEmail(srv *server) string {
	n := srv.nextUser()
	spread := uint32(n) * 2654435761 // Knuth's multiplicative hash
	return fmt.Sprintf("%08x.u%d.s%d.%s@bench.example.com", spread, n, srv.tag, b.runID)
}
