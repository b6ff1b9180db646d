package main

import (
	"testing"
	"time"
)

func TestLatencyPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := latencyPercentiles(lat)
	want := percentiles{P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Errorf("latencyPercentiles(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := latencyPercentiles(nil); got != (percentiles{}) {
		t.Errorf("latencyPercentiles(nil) = %+v, want zeros", got)
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct{ v, top, step float64 }{
		{0, 1, 0.2},
		{83, 100, 20},
		{1410, 1500, 500},
		{0.33, 0.4, 0.1},
	}
	for _, tt := range tests {
		if top, step := niceScale(tt.v); top != tt.top || step != tt.step {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.v, top, step, tt.top, tt.step)
		}
	}
}

func TestProcStatFields(t *testing.T) {
	name, fields := procStatFields([]byte("1234 (regapi (x)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0"))
	if name != "regapi (x)" || len(fields) != 15 || fields[11] != "150" || fields[12] != "25" {
		t.Errorf("procStatFields = %q, %q", name, fields)
	}
}

func TestCodePattern(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Your code is:\n\n    0427\n\nIt is valid for 1 minute.", "0427"},
		{"code 12345 is not one, 9876 is", "9876"},
	}
	for _, tt := range tests {
		m := codePattern.FindStringSubmatch(tt.text)
		if m == nil || m[1] != tt.want {
			t.Errorf("code in %q = %v, want %s", tt.text, m, tt.want)
		}
	}
}

func TestWithParams(t *testing.T) {
	got, err := withParams("postgres://u@h:5432/db?sslmode=disable", "pool_max_conns=32")
	if err != nil || got != "postgres://u@h:5432/db?pool_max_conns=32&sslmode=disable" {
		t.Errorf("withParams = %q, %v", got, err)
	}
}

func TestTargets(t *testing.T) {
	r := &report{HashConcurrency: 2, Results: []result{
		{Scenario: "register", Hash: "default", Concurrency: 64, OfCeiling: 0.95, P99TargetMS: 2000,
			LatencyMS: percentiles{P99: 2500}, Statuses: map[string]int{"201": 10, "timeout": 1}},
	}}
	met := map[string]bool{}
	for _, tg := range evaluateTargets(r) {
		met[tg.Name] = tg.Met
	}
	if !met["register goodput at concurrency 64, of the argon2id ceiling"] {
		t.Errorf("95%% of the ceiling does not meet the 90%% target: %v", met)
	}
	if met["register p99 at concurrency 64 (2 × concurrency ÷ ceiling)"] {
		t.Errorf("a p99 of 2.5 s meets a 2 s target: %v", met)
	}
	if met["requests that timed out or lost their connection, all runs"] {
		t.Errorf("a timeout passes: %v", met)
	}
}
