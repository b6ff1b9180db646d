package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// cpuProfileSplit is where one process's CPU time went by its CPU profile: the line of the
// accounting that /proc cannot draw, between the hash and everything else the hashing
// process does. splitProfile gives fractions of the profile's samples; an account holds the
// same parts as shares of the machine (see addProfile).
type cpuProfileSplit struct {
	// Argon2 is argon2id itself, with the allocation and zeroing of its memory.
	Argon2 float64 `json:"argon2"`
	// Collector is the garbage collector: marking (background and assists), sweeping and
	// its stop-the-world phases.
	Collector float64 `json:"collector"`
	// Serving is the HTTP server's goroutines outside the hash and the collector: reading
	// and parsing requests, authentication, SQL, writing the responses, the access log.
	Serving float64 `json:"serving"`
	// Code is the process's other code (in regapi its background work: the outbox, the
	// event dispatcher, the pools' health checks).
	Code float64 `json:"code"`
	// Runtime is the rest: the Go scheduler (switching goroutines, preempting the hash
	// for other work, waking threads), the network poller, the scavenger and timers.
	Runtime float64 `json:"runtime"`
	// Samples is how many samples the fractions come from.
	Samples int64 `json:"samples"`
}

// collectorRoots are the runtime functions under which a sample is the garbage collector's.
var collectorRoots = []string{
	"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.sweepone",
	"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination",
}

// servingRoots are prefixes of the functions under which a sample is the HTTP server's:
// a connection's goroutine, its background reader, the accept loop.
var servingRoots = []string{"net/http.(*conn).", "net/http.(*connReader).", "net/http.(*Server).Serve"}

// classify names the part of cpuProfileSplit that a sample whose stack holds these
// functions (innermost first) belongs to. The collector comes first: an assist that a
// hash's allocation pays is the collector's work, not argon2id's.
func classify(funcs []string) string {
	has := func(match func(string) bool) bool { return slices.ContainsFunc(funcs, match) }
	switch {
	case has(func(f string) bool { return slices.Contains(collectorRoots, f) }):
		return "collector"
	case has(func(f string) bool { return strings.HasPrefix(f, "golang.org/x/crypto/argon2.") }):
		return "argon2"
	case has(func(f string) bool {
		return slices.ContainsFunc(servingRoots, func(r string) bool { return strings.HasPrefix(f, r) })
	}):
		return "serving"
	case has(func(f string) bool { return !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") }):
		return "code"
	}
	return "runtime"
}

// splitProfile splits a CPU profile (pprof's format) by classify, weighting each sample by
// its CPU time.
func splitProfile(data []byte) (cpuProfileSplit, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return cpuProfileSplit{}, fmt.Errorf("parse CPU profile: %w", err)
	}
	value := len(p.SampleType) - 1 // cpu nanoseconds, after the sample count
	parts := map[string]int64{}
	var total, samples int64
	for _, s := range p.Sample {
		var funcs []string
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function != nil {
					funcs = append(funcs, line.Function.Name)
				}
			}
		}
		v := s.Value[value]
		parts[classify(funcs)] += v
		total += v
		samples += s.Value[0]
	}
	if total == 0 {
		return cpuProfileSplit{}, fmt.Errorf("the CPU profile holds no samples")
	}
	of := func(part string) float64 { return float64(parts[part]) / float64(total) }
	return cpuProfileSplit{Argon2: of("argon2"), Collector: of("collector"), Serving: of("serving"),
		Code: of("code"), Runtime: of("runtime"), Samples: samples}, nil
}

// profileSelf takes a CPU profile of this process from from until to, for a ceiling sample.
// The returned function waits for it and returns the profile, nil when none could be taken.
func profileSelf(ctx context.Context, from, to time.Time) func() []byte {
	done := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		sleepUntil(ctx, from)
		if ctx.Err() != nil || pprof.StartCPUProfile(&buf) != nil {
			done <- nil
			return
		}
		sleepUntil(ctx, to)
		pprof.StopCPUProfile()
		done <- buf.Bytes()
	}()
	return func() []byte { return <-done }
}

func sleepUntil(ctx context.Context, t time.Time) { sleep(ctx, time.Until(t)) }
