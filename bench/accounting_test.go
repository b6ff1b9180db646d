package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A point on two cores for 10 s (20 core-seconds): regapi used 12 s of user time (1 s of it
// in the collector, over 200 collections) and 2 s of system time for 400 hashes of 25 ms
// user time each.
func TestPointAccountAddsUp(t *testing.T) {
	u := procUsage{
		wall:       10 * time.Second,
		server:     procTimes{user: 12 * time.Second, system: 2 * time.Second, minorFaults: 40000},
		serverCPU:  14 * time.Second,
		serverGC:   time.Second,
		serverGCs:  200,
		hashBusy:   18 * time.Second,
		dbCPU:      2 * time.Second,
		loadgenCPU: time.Second,
		machineCPU: 18 * time.Second,
		idle:       2 * time.Second,
	}
	a := pointAccount(u, 400, 25*time.Millisecond, 2, 2)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"hash", a.Hash, 0.5}, {"gc", a.GC, 0.05}, {"other user", a.OtherUser, 0.05}, {"system", a.System, 0.1},
		{"postgres", a.PostgreSQL, 0.1}, {"loadgen", a.Loadgen, 0.05}, {"else", a.Else, 0.05}, {"idle", a.Idle, 0.1},
		{"total", a.Total, 1}, {"faults per hash", a.MinorFaultsPerHash, 100}, {"slots busy", a.SlotsBusy, 0.9},
		{"collections per hash", a.GCsPerHash, 0.5}, {"collector ms per collection", a.GCMSPerGC, 5},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
}

// More hashes than regapi's user time can hold (the loop's cost per hash was lower): the
// hash share is capped, and no share goes negative.
func TestPointAccountNeverGoesNegative(t *testing.T) {
	u := procUsage{wall: time.Second, server: procTimes{user: time.Second}, serverCPU: time.Second,
		serverGC: -1, serverGCs: -1, hashBusy: -1, machineCPU: time.Second, idle: time.Second}
	a := pointAccount(u, 1000, 25*time.Millisecond, 2, 2)
	if !near(a.Hash, 0.5) || a.OtherUser != 0 || a.GC != 0 || a.SlotsBusy != 0 || a.GCsPerHash != 0 || a.GCMSPerGC != 0 || !near(a.Total, 1) {
		t.Errorf("cpuAccount = %+v, want hash 0.5, nothing else of regapi, total 1", a)
	}
}

// In the ceiling loop the load generator is the hashing process: its time is the hash's
// and the collector's, never "load generator".
func TestCeilingAccountCountsTheLoopAsTheHash(t *testing.T) {
	u := procUsage{wall: 10 * time.Second, loadgen: procTimes{user: 19 * time.Second, system: time.Second / 2, minorFaults: 500},
		loadgenCPU: 19500 * time.Millisecond, loadgenGC: time.Second, loadgenGCs: 360, machineCPU: 19800 * time.Millisecond, dbCPU: 100 * time.Millisecond,
		idle: 200 * time.Millisecond}
	a := ceilingAccount(u, 720, 2)
	if !near(a.Hash, 0.9) || !near(a.GC, 0.05) || a.Loadgen != 0 || !near(a.Else, 0.01) || !near(a.Total, 1) {
		t.Errorf("cpuAccount = %+v, want hash 0.9, gc 0.05, loadgen 0, else 0.01, total 1", a)
	}
	if !near(a.UserMSPerHash, 25) || !near(a.GCsPerHash, 0.5) || !near(a.GCMSPerGC, 1000.0/360) {
		t.Errorf("user ms per hash = %g, collections per hash %g, ms per collection %g; want 25, 0.5, %g",
			a.UserMSPerHash, a.GCsPerHash, a.GCMSPerGC, 1000.0/360)
	}
}

func TestAccountTablePredictsTheRatio(t *testing.T) {
	loop, point := cpuAccount{Hash: 0.9, Total: 1}, cpuAccount{Hash: 0.72, Total: 1}
	r := &report{Results: []result{{Scenario: "register", Concurrency: 64, OfCeiling: 0.79, Account: &point, CeilingAccount: &loop}}}
	var out strings.Builder
	writeAccountTable(&out, r)
	if !strings.Contains(out.String(), "| 80.0 % / 79.0 % |") {
		t.Errorf("the table does not predict 80.0 %% beside the measured 79.0 %%:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| hash slots busy | – | 0.0 |") {
		t.Errorf("the loop's column gives the hash slots a value; want –:\n%s", out.String())
	}
}

// The runtime counts a stop-the-world pause as GOMAXPROCS × its length; the account counts
// it once, as the one thread at work in it.
func TestCollectorTimeCountsAPauseAtItsLength(t *testing.T) {
	cpu, pause := collectorTime(1.0, 0.4, 2) // 0.6 s of marking, pauses 0.2 s long
	if cpu != 800*time.Millisecond || pause != 200*time.Millisecond {
		t.Errorf("collectorTime = %v, %v; want 800ms, 200ms", cpu, pause)
	}
	u := procUsage{wall: 10 * time.Second, server: procTimes{user: 12 * time.Second}, serverCPU: 12 * time.Second,
		serverGC: cpu, serverGCP: pause, serverGCs: 10, hashBusy: -1, machineCPU: 20 * time.Second}
	if a := pointAccount(u, 400, 25*time.Millisecond, 2, 2); !near(a.GC, 0.04) || !near(a.GCPause, 0.01) {
		t.Errorf("collector %g of which pauses %g, want 0.04 and 0.01", a.GC, a.GCPause)
	}
}
