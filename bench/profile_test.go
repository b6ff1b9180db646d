package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"golang.org/x/crypto/argon2"
)

// cpuProfile builds a CPU profile in pprof's format whose samples have these stacks
// (innermost function first) and CPU times in ms.
func cpuProfile(t *testing.T, samples map[string]int64) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000,
	}
	functions := map[string]*profile.Function{}
	for stack, msCPU := range samples {
		var locs []*profile.Location
		for _, name := range strings.Split(stack, " < ") {
			f := functions[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(functions) + 1), Name: name}
				functions[name] = f
				p.Function = append(p.Function, f)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{msCPU / 10, msCPU * 1e6}})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSplitProfileNamesEveryPart(t *testing.T) {
	data := cpuProfile(t, map[string]int64{
		"golang.org/x/crypto/argon2.blamkaSSE4 < golang.org/x/crypto/argon2.processBlocks.func1":                           6000,
		"runtime.memclrNoHeapPointers < runtime.mallocgc < golang.org/x/crypto/argon2.initBlocks < net/http.(*conn).serve": 1000,
		// An assist paid by the hash's allocation is the collector's.
		"runtime.gcDrainN < runtime.gcAssistAlloc < runtime.mallocgc < golang.org/x/crypto/argon2.initBlocks": 200,
		"runtime.scanobject < runtime.gcDrain < runtime.gcBgMarkWorker":                                       300,
		"syscall.Syscall6 < net.(*conn).Write < net/http.(*conn).serve":                                       100,
		"syscall.Syscall6 < net.(*conn).Read < net/http.(*connReader).backgroundRead":                         100,
		"github.com/regapi/regapi/internal/outbox.(*Dispatcher).run":                                          100,
		"runtime.findRunnable < runtime.schedule < runtime.mcall":                                             200,
	})
	s, err := splitProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	want := cpuProfileSplit{Argon2: 0.875, Collector: 0.0625, Serving: 0.025, Code: 0.0125, Runtime: 0.025, Samples: 800}
	if !near(s.Argon2, want.Argon2) || !near(s.Collector, want.Collector) || !near(s.Serving, want.Serving) ||
		!near(s.Code, want.Code) || !near(s.Runtime, want.Runtime) || s.Samples != want.Samples {
		t.Errorf("split = %+v, want %+v", s, want)
	}
}

func TestSplitProfileRefusesWhatIsNoProfile(t *testing.T) {
	if _, err := splitProfile([]byte("<html>404</html>")); err == nil {
		t.Error("split of an HTML page: no error")
	}
	if _, err := splitProfile(cpuProfile(t, nil)); err == nil {
		t.Error("split of an empty profile: no error")
	}
}

// The profile's parts are shares of the hashing process's CPU time, so of the machine they
// add up to its lines of the account.
func TestAddProfileScalesToTheProcess(t *testing.T) {
	a := cpuAccount{Hash: 0.7, GC: 0.05, OtherUser: 0.05, System: 0.2} // the process: 1.0 of the machine
	data := cpuProfile(t, map[string]int64{
		"golang.org/x/crypto/argon2.blamkaSSE4": 900, "runtime.gcBgMarkWorker": 50, "net/http.(*conn).serve": 50,
	})
	a.addProfile(data, 80, 2, 10*time.Second)
	if a.ByProfile == nil || !near(a.ByProfile.Argon2, 0.9) || !near(a.ByProfile.Collector, 0.05) || !near(a.ByProfile.Serving, 0.05) {
		t.Fatalf("by profile = %+v, want argon2id 0.9, collector 0.05, serving 0.05", a.ByProfile)
	}
	if !near(a.Argon2MSPerHash, 225) { // 0.9 of 20 core-seconds over 80 hashes
		t.Errorf("argon2id ms per hash = %g, want 225", a.Argon2MSPerHash)
	}
	var out strings.Builder
	loop := cpuAccount{Hash: 0.9, Total: 1, ByProfile: &cpuProfileSplit{Argon2: 0.96}}
	writeAccountTable(&out, &report{Results: []result{{Scenario: "me", Concurrency: 64, Account: &a, CeilingAccount: &loop}}})
	if !strings.Contains(out.String(), "| 93.8 % |") || !strings.Contains(out.String(), "| … serving requests (HTTP, Basic Auth, SQL, sockets, access log) | 0.0 | 5.0 |") {
		t.Errorf("the table lacks the profile's lines or its prediction (0.9 ÷ 0.96 = 93.8 %%):\n%s", out.String())
	}
}

// A profile of this process while it hashes: nearly all of it is argon2id's.
func TestProfileSelfSeesTheHash(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes for a second")
	}
	from := time.Now()
	prof := profileSelf(context.Background(), from, from.Add(time.Second))
	for time.Since(from) < time.Second {
		argon2.IDKey([]byte("password"), []byte("0123456789abcdef"), 1, 8192, 1, 32)
	}
	s, err := splitProfile(prof())
	if err != nil {
		t.Fatal(err)
	}
	if s.Argon2 < 0.5 {
		t.Errorf("argon2id is %.2f of a profile taken while hashing, want most of it", s.Argon2)
	}
}
