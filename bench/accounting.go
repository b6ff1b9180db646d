package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"
)

// cpuAccount splits the machine's core-seconds during one measured window (cores × wall) by
// where they went. Every share is a fraction of that whole; the process that hashes is
// regapi at a point, and the load generator itself in the ceiling loop.
type cpuAccount struct {
	// Hash is the hashing process's user time in argon2id: at a point, the hashes it
	// computed times the user CPU of one hash in the ceiling loop around it.
	Hash float64 `json:"hash"`
	// GC is the hashing process's garbage collector, as its runtime estimates it but with
	// each stop-the-world pause counted at its length (see collectorTime); GCPause is that
	// part of it.
	GC      float64 `json:"gc"`
	GCPause float64 `json:"gc_pause"`
	// OtherUser is the rest of its user time; System is its system time (page faults,
	// system calls).
	OtherUser float64 `json:"other_user"`
	System    float64 `json:"system"`
	// PostgreSQL, Loadgen (zero in the ceiling loop, where the load generator is the
	// hashing process) and Else (every other process) are the other processes' CPU time.
	PostgreSQL float64 `json:"postgresql"`
	Loadgen    float64 `json:"loadgen"`
	Else       float64 `json:"else"`
	// Idle is every core's idle and I/O wait time.
	Idle float64 `json:"idle"`
	// Total is the sum of the shares: 1 when /proc's clocks agree with the wall clock.
	Total float64 `json:"total"`
	// The hashing process's page faults per hash.
	MinorFaultsPerHash float64 `json:"minor_faults_per_hash"`
	MajorFaultsPerHash float64 `json:"major_faults_per_hash"`
	// GCsPerHash is the hashing process's garbage collections per hash, and GCMSPerGC the
	// collector's CPU time per collection: together they say whether a collector's share
	// comes from collecting more often or from each collection costing more.
	GCsPerHash float64 `json:"gcs_per_hash"`
	GCMSPerGC  float64 `json:"gc_ms_per_gc"`
	// SlotsBusy is the fraction of the window regapi's hash slots were held (a slot is
	// held while its hash waits for a core too); zero in the ceiling loop.
	SlotsBusy float64 `json:"slots_busy,omitempty"`
	// UserMSPerHash is the hashing process's user time per hash in the ceiling loop.
	UserMSPerHash float64 `json:"user_ms_per_hash,omitempty"`
	// ByProfile splits the hashing process's CPU time (user and system: Hash + GC +
	// OtherUser + System) as its CPU profile does, in shares of the machine like the lines
	// above; nil without a profile (-pprof). Argon2MSPerHash is argon2id's CPU time by the
	// profile per hash: above the loop's, the same hash ran slower.
	ByProfile       *cpuProfileSplit `json:"by_profile,omitempty"`
	Argon2MSPerHash float64          `json:"argon2_ms_per_hash,omitempty"`
}

// addProfile splits a's hashing process by its CPU profile data, taken over the window of
// cores × wall in which it computed hashes; a profile that cannot be read leaves a as it
// is, and says so.
func (a *cpuAccount) addProfile(data []byte, hashes int64, cores int, wall time.Duration) {
	if data == nil {
		return
	}
	split, err := splitProfile(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return
	}
	process := a.Hash + a.GC + a.OtherUser + a.System
	scaled := cpuProfileSplit{Argon2: split.Argon2 * process, Collector: split.Collector * process,
		Serving: split.Serving * process, Code: split.Code * process, Runtime: split.Runtime * process,
		Samples: split.Samples}
	a.ByProfile = &scaled
	if hashes > 0 {
		a.Argon2MSPerHash = scaled.Argon2 * float64(cores) * wall.Seconds() * 1000 / float64(hashes)
	}
}

// ceilingAccount accounts for a ceiling sample: u watched this process, which computed
// hashes and nothing else.
func ceilingAccount(u procUsage, hashes int64, cores int) cpuAccount {
	gc := max(u.loadgenGC, 0)
	hasher := u
	hasher.loadgenCPU = 0 // the load generator is the hashing process here
	a := shares(hasher, cores, u.loadgen, gc, u.loadgen.user-gc, u.loadgenCPU)
	a.GCPause = share(u.loadgenGCP, cores, u.wall)
	perHash(&a, u.loadgen, hashes, gc, u.loadgenGCs)
	if hashes > 0 {
		a.UserMSPerHash = ms(u.loadgen.user-gc) / float64(hashes)
	}
	return a
}

// pointAccount accounts for a point at which regapi computed hashes, each costing
// userPerHash of user time as in the ceiling loop, with slots hash slots.
func pointAccount(u procUsage, hashes int, userPerHash time.Duration, cores, slots int) cpuAccount {
	gc := max(u.serverGC, 0)
	hash := min(time.Duration(hashes)*userPerHash, u.server.user-gc)
	a := shares(u, cores, u.server, gc, hash, u.serverCPU)
	if u.serverGC >= 0 {
		a.GCPause = share(u.serverGCP, cores, u.wall)
	}
	perHash(&a, u.server, int64(hashes), gc, u.serverGCs)
	if u.hashBusy >= 0 && slots > 0 && u.wall > 0 {
		a.SlotsBusy = u.hashBusy.Seconds() / (float64(slots) * u.wall.Seconds())
	}
	return a
}

// shares fills in the shares of an account whose hashing process used t (cpu in all), of
// which gc in its garbage collector and hash in argon2id.
func shares(u procUsage, cores int, t procTimes, gc, hash, cpu time.Duration) cpuAccount {
	if float64(cores)*u.wall.Seconds() <= 0 {
		return cpuAccount{}
	}
	of := func(d time.Duration) float64 { return share(d, cores, u.wall) }
	others := u.machineCPU - cpu - u.dbCPU - u.loadgenCPU
	a := cpuAccount{
		Hash: of(hash), GC: of(gc), OtherUser: of(t.user - gc - hash), System: of(t.system),
		PostgreSQL: of(u.dbCPU), Loadgen: of(u.loadgenCPU), Else: of(others), Idle: of(u.idle),
	}
	a.Total = a.Hash + a.GC + a.OtherUser + a.System + a.PostgreSQL + a.Loadgen + a.Else + a.Idle
	return a
}

// share is d as a fraction of cores × wall.
func share(d time.Duration, cores int, wall time.Duration) float64 {
	if whole := float64(cores) * wall.Seconds(); whole > 0 {
		return max(d.Seconds(), 0) / whole
	}
	return 0
}

// perHash fills in a's page faults and collections per hash, from the hashing process's
// times t and its collections, gcs of them (fewer than none when unknown) costing gc.
func perHash(a *cpuAccount, t procTimes, hashes int64, gc time.Duration, gcs int64) {
	if hashes > 0 {
		a.MinorFaultsPerHash = float64(t.minorFaults) / float64(hashes)
		a.MajorFaultsPerHash = float64(t.majors) / float64(hashes)
		a.GCsPerHash = float64(max(gcs, 0)) / float64(hashes)
	}
	if gcs > 0 {
		a.GCMSPerGC = ms(gc) / float64(gcs)
	}
}

// writeAccountTable writes, for each default-hash point with an account, where the cores'
// time went beside the ceiling sample before it, and the ratio to the ceiling the account
// predicts (the point's hash share over the ceiling's) beside the one measured.
func writeAccountTable(w io.Writer, r *report) {
	var cols []result
	for _, res := range r.Results {
		if res.Account != nil && res.CeilingAccount != nil {
			cols = append(cols, res)
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprint(w, "\nWhere the cores went (% of cores × window; the ceiling loop is the sample before each point)\n\n| |")
	for _, c := range cols {
		fmt.Fprintf(w, " ceiling loop | %s c=%d |", c.Scenario, c.Concurrency)
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "--:|--:|")
	}
	fmt.Fprintln(w)
	lines := []accountLine{
		{"argon2id (user)", func(a cpuAccount) float64 { return a.Hash }, "%"},
		{"garbage collector", func(a cpuAccount) float64 { return a.GC }, "%"},
		{"… of which stop-the-world pauses (their length)", func(a cpuAccount) float64 { return a.GCPause }, "%"},
		{"other user time of the hashing process", func(a cpuAccount) float64 { return a.OtherUser }, "%"},
		{"system time of the hashing process", func(a cpuAccount) float64 { return a.System }, "%"},
		{"PostgreSQL", func(a cpuAccount) float64 { return a.PostgreSQL }, "%"},
		{"load generator", func(a cpuAccount) float64 { return a.Loadgen }, "%"},
		{"everything else", func(a cpuAccount) float64 { return a.Else }, "%"},
		{"idle", func(a cpuAccount) float64 { return a.Idle }, "%"},
		{"**total**", func(a cpuAccount) float64 { return a.Total }, "%"},
		{"minor page faults per hash", func(a cpuAccount) float64 { return a.MinorFaultsPerHash }, "n"},
		{"major page faults per hash", func(a cpuAccount) float64 { return a.MajorFaultsPerHash }, "n"},
		{"garbage collections per hash", func(a cpuAccount) float64 { return a.GCsPerHash }, "x"},
		{"collector CPU ms per collection", func(a cpuAccount) float64 { return a.GCMSPerGC }, "x"},
		{"hash slots busy", func(a cpuAccount) float64 { return a.SlotsBusy }, pointPercent},
	}
	if slices.ContainsFunc(cols, func(r result) bool { return r.Account.ByProfile != nil }) {
		lines = append(lines, []accountLine{
			{"by CPU profile: argon2id (with its memory's allocation and zeroing)", byProfile(func(p cpuProfileSplit) float64 { return p.Argon2 }), "%"},
			{"… the garbage collector (marking, assists, sweeping)", byProfile(func(p cpuProfileSplit) float64 { return p.Collector }), "%"},
			{"… serving requests (HTTP, Basic Auth, SQL, sockets, access log)", byProfile(func(p cpuProfileSplit) float64 { return p.Serving }), "%"},
			{"… the process's other code", byProfile(func(p cpuProfileSplit) float64 { return p.Code }), "%"},
			{"… the Go runtime (scheduler, preemption, network poller, scavenger)", byProfile(func(p cpuProfileSplit) float64 { return p.Runtime }), "%"},
			{"argon2id CPU ms per hash, by the profile", func(a cpuAccount) float64 {
				if a.ByProfile == nil {
					return math.NaN()
				}
				return a.Argon2MSPerHash
			}, "x"},
		}...)
	}
	for _, l := range lines {
		fmt.Fprintf(w, "| %s |", l.name)
		for _, c := range cols {
			fmt.Fprintf(w, " %s | %s |", loopCell(l.value(*c.CeilingAccount), l.unit), accountCell(l.value(*c.Account), l.unit))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| of the ceiling: predicted (hash share ÷ the loop's) / measured |")
	for _, c := range cols {
		predicted := 0.0
		if c.CeilingAccount.Hash > 0 {
			predicted = c.Account.Hash / c.CeilingAccount.Hash
		}
		fmt.Fprintf(w, " | %.1f %% / %.1f %% |", 100*predicted, 100*c.OfCeiling)
	}
	fmt.Fprintln(w)
	if cols[0].Account.ByProfile == nil || cols[0].CeilingAccount.ByProfile == nil {
		return
	}
	fmt.Fprint(w, "| of the ceiling: predicted by the profiles (argon2id share ÷ the loop's) |")
	for _, c := range cols {
		cell := "–"
		if p, l := c.Account.ByProfile, c.CeilingAccount.ByProfile; p != nil && l != nil && l.Argon2 > 0 {
			cell = fmt.Sprintf("%.1f %%", 100*p.Argon2/l.Argon2)
		}
		fmt.Fprintf(w, " | %s |", cell)
	}
	fmt.Fprintln(w)
}

// accountLine is a line of the accounting table: its name, its value in an account, and its
// unit, as accountCell takes it.
type accountLine struct {
	name  string
	value func(cpuAccount) float64
	unit  string
}

// byProfile returns the line of an account that part gives of its CPU profile split, NaN
// (a dash) for an account without one.
func byProfile(part func(cpuProfileSplit) float64) func(cpuAccount) float64 {
	return func(a cpuAccount) float64 {
		if a.ByProfile == nil {
			return math.NaN()
		}
		return part(*a.ByProfile)
	}
}

// pointPercent is the unit of a share that only a point has, such as its hash slots' busy
// time: the ceiling loop's column shows none.
const pointPercent = "point %"

// accountCell formats v in unit: "%" and pointPercent as a percentage, "x" with two
// decimals, anything else as a whole number; NaN, a line an account lacks, as a dash.
func accountCell(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch unit {
	case "%", pointPercent:
		return fmt.Sprintf("%.1f", 100*v)
	case "x":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// loopCell formats the ceiling loop's v, or a dash for a line that only a point has.
func loopCell(v float64, unit string) string {
	if unit == pointPercent {
		return "–"
	}
	return accountCell(v, unit)
}
