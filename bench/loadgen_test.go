package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
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

func TestChartIsAPNG(t *testing.T) {
	r := &report{Ceilings: map[string]ceiling{"default": {HashesPerSecond: 40}}, Results: []result{
		{Scenario: "register", Hash: "default", Concurrency: 8, Goodput: 35, LatencyMS: percentiles{P99: 400}},
		{Scenario: "register", Hash: "default", Concurrency: 64, Goodput: 38, LatencyMS: percentiles{P99: 3000}},
		{Scenario: "me", Hash: "cheap", Concurrency: 8, Goodput: 900, LatencyMS: percentiles{P99: 12}},
	}}
	path := filepath.Join(t.TempDir(), "chart.png")
	if err := writeChart(path, r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 1000 || cfg.Height < 600 {
		t.Errorf("chart.png: %+v, %v; want a PNG of at least 1000×600", cfg, err)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before := cpuTime(os.Getpid())
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	if after := cpuTime(os.Getpid()); after <= before {
		t.Errorf("cpuTime after 50 ms of spinning = %v, before %v: want more", after, before)
	}
	if busy, idle := machineCPU(); rss(os.Getpid()) <= 0 || busy <= 0 || idle <= 0 {
		t.Errorf("rss = %d, machine busy %v and idle %v: want all above zero", rss(os.Getpid()), busy, idle)
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

// The benchmark runs regapi with the GODEBUG of its image, or it would measure a regapi
// nobody runs.
func TestServersRunWithTheImagesGODEBUG(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "\nENV GODEBUG="+imageGODEBUG+"\n") {
		t.Errorf("the Dockerfile does not set GODEBUG=%s, which the benchmark gives regapi", imageGODEBUG)
	}
	b := &bench{provider: &fakeProvider{}}
	if got := b.serverEnv("postgres://x")["GODEBUG"]; got != imageGODEBUG {
		t.Errorf("regapi under test gets GODEBUG=%q, want %q", got, imageGODEBUG)
	}
}
