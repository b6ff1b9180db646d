package main

import (
	"fmt"
	"math"
)

// target is one of the performance goals, checked against a run's figures.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Cmp   string  `json:"cmp"` // "≥" or "≤"
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	Met   bool    `json:"met"`
}

func (t target) fmt(v float64) string {
	switch t.Unit {
	case "%":
		return fmt.Sprintf("%.1f %%", v)
	case "count":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f %s", v, t.Unit)
}

func atLeast(name string, v, limit float64, unit string) target {
	return target{Name: name, Value: v, Cmp: "≥", Limit: limit, Unit: unit, Met: v >= limit}
}

func atMost(name string, v, limit float64, unit string) target {
	return target{Name: name, Value: v, Cmp: "≤", Limit: limit, Unit: unit, Met: v <= limit}
}

// evaluateTargets checks the goals against what r measured; goals whose points the
// run did not measure (smoke mode) are left out.
func evaluateTargets(r *report) []target {
	var ts []target
	for _, scenario := range []string{"register", "me"} {
		for _, g := range []struct {
			c    int
			frac float64
		}{{64, 0.90}, {256, 0.85}} {
			if res, ok := r.find("default", scenario, g.c); ok {
				ts = append(ts, atLeast(fmt.Sprintf("%s goodput at concurrency %d, of the argon2id ceiling", scenario, g.c),
					100*res.OfCeiling, 100*g.frac, "%"))
			}
		}
	}
	failures, noRetryAfter := 0, 0
	var peak float64
	maxC := 0
	for _, res := range r.Results {
		failures += res.Statuses["timeout"] + res.Statuses["connection"]
		noRetryAfter += res.Statuses["503 no Retry-After"] + res.Statuses["429 no Retry-After"]
		if res.Hash != "default" || res.P99TargetMS == 0 {
			continue
		}
		ts = append(ts, atMost(fmt.Sprintf("%s p99 at concurrency %d (2 × concurrency ÷ ceiling)", res.Scenario, res.Concurrency),
			res.LatencyMS.P99/1000, res.P99TargetMS/1000, "s"))
		if res.Concurrency > maxC {
			maxC, peak = res.Concurrency, 0
		}
		if res.Concurrency == maxC {
			peak = max(peak, res.PeakRSSMiB)
		}
	}
	ts = append(ts, resetParityTargets(r)...)
	ts = append(ts, atMost("requests that timed out or lost their connection, all runs", float64(failures), 0, "count"),
		atMost("429/503 answers without Retry-After, all runs", float64(noRetryAfter), 0, "count"))
	if maxC == 256 {
		argonMiB := float64(defaultHash.MemoryKiB) / 1024
		ts = append(ts, atMost(fmt.Sprintf("peak RSS at concurrency 256 (HASH_CONCURRENCY %d × %.0f MiB + 150 MiB)", r.HashConcurrency, argonMiB),
			peak, float64(r.HashConcurrency)*argonMiB+150, "MiB"))
	}
	for _, e := range r.Email {
		switch e.Name {
		case "steady":
			ts = append(ts, atMost(fmt.Sprintf("email p99 commit → accepted at %.0f registrations/s", e.OfferedRate),
				e.CommitToAcceptedMS.P99/1000, 1, "s"))
		case "burst":
			drain := e.DrainSeconds
			if e.Delivered < e.Registrations {
				drain = 1e9 // not drained at all
			}
			ts = append(ts, atMost(fmt.Sprintf("burst of %d registrations fully delivered after the last 201", e.Registrations),
				drain, 10, "s"))
		}
	}
	for _, e := range r.Events {
		switch e.Name {
		case "steady":
			ts = append(ts, atMost(fmt.Sprintf("event p99 commit → accepted at %.0f registrations/s", e.OfferedRate),
				e.CommitToAcceptedMS.P99/1000, 1, "s"))
		case "ordered":
			ts = append(ts, atMost(fmt.Sprintf("events delivered before an earlier one of their account was accepted (%d accounts × %d)", e.Accounts, e.Chain),
				float64(e.OutOfOrder+e.WrongSequence), 0, "count"))
		}
	}
	if n := len(r.Scale); n > 1 {
		last := r.Scale[n-1]
		for _, p := range last.Points {
			ts = append(ts, atLeast(fmt.Sprintf("%s, %d accounts, of the empty database", p.Name, last.Accounts), p.Ratio, 0.90, "×"))
		}
	}
	for _, c := range []int{64, 256} {
		if res, ok := r.find("cheap", "register", c); ok {
			ts = append(ts, atLeast(fmt.Sprintf("cheap-hash registrations/s at concurrency %d", c), res.Goodput, 1000, "/s"))
		}
	}
	return ts
}

// maxResetSkew is how far the p50 of reset requests for known addresses may be from that for
// unknown ones, at one concurrency, before the timing tells them apart.
const maxResetSkew = 10.0 // %

// resetParityTargets compares, at each concurrency, the p50 of reset requests for known and
// for unknown addresses: the answer must not tell whether an address holds an account.
func resetParityTargets(r *report) []target {
	var ts []target
	for _, known := range r.Results {
		if known.Scenario != classResetKnown {
			continue
		}
		unknown, ok := r.find(known.Hash, classResetUnknown, known.Concurrency)
		if !ok || unknown.LatencyMS.P50 == 0 {
			continue
		}
		skew := 100 * math.Abs(known.LatencyMS.P50/unknown.LatencyMS.P50-1)
		ts = append(ts, atMost(fmt.Sprintf("reset request p50, known vs unknown address, %s hash, concurrency %d (difference)",
			known.Hash, known.Concurrency), skew, maxResetSkew, "%"))
	}
	return ts
}
