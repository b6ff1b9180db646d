package password

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock stands in for the wall clock: a derivation advances it by its cost, a sleep by
// its duration, so a test reads off exactly how long a check appeared to take.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	derived []Params
	slept   []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(_ context.Context, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
}

// cost is the fake duration of one derivation: a microsecond per KiB per pass.
func cost(p Params) time.Duration {
	return time.Duration(p.MemoryKiB) * time.Duration(p.Iterations) * time.Microsecond
}

// costedHasher returns a Hasher with params p whose derivations advance a fake clock by
// their cost.
func costedHasher(p Params) (*Hasher, *fakeClock) {
	h := NewHasher(p, 1, 1, time.Second)
	c := &fakeClock{t: time.Unix(0, 0)}
	h.now, h.sleep = c.now, c.sleep
	h.derive = func(p Params, password, salt []byte, n int) []byte {
		c.mu.Lock()
		c.derived = append(c.derived, p)
		c.t = c.t.Add(cost(p))
		c.mu.Unlock()
		return p.key(password, salt, n)
	}
	return h, c
}

func hashWith(t *testing.T, p Params, pw string) string {
	t.Helper()
	encoded, err := NewHasher(p, 1, 1, time.Second).Hash(t.Context(), pw)
	if err != nil {
		t.Fatalf("Hash with %+v: %v", p, err)
	}
	return encoded
}

func TestFailedChecksTakeTheCurrentCostWhateverTheStoredOne(t *testing.T) {
	t.Parallel()
	current := Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1}
	older := Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	costlier := Params{MemoryKiB: 512, Iterations: 2, Parallelism: 1}
	h, clock := costedHasher(current)
	dummy, err := h.Hash(t.Context(), "made at start-up") // as the service does
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	tests := []struct {
		name, encoded, password string
		wantOK                  bool
		wantTook                time.Duration
	}{
		{"unknown address (the dummy hash)", dummy, "guess", false, cost(current)},
		{"wrong password, current-cost account", hashWith(t, current, "right password"), "guess", false, cost(current)},
		{"wrong password, account from before the cost was raised", hashWith(t, older, "right password"), "guess", false, cost(current)},
		{"right password, account from before the cost was raised", hashWith(t, older, "right password"), "right password", true, cost(older)},
		// Padding cannot shorten a check: this is the limit the doc comment states.
		{"wrong password, account from before the cost was lowered", hashWith(t, costlier, "right password"), "guess", false, cost(costlier)},
	}
	for _, tt := range tests { // one after the other: they share the clock
		start := clock.now()
		ok, err := h.Verify(t.Context(), tt.encoded, tt.password)
		if ok != tt.wantOK || err != nil {
			t.Errorf("%s: Verify = %v, %v; want %v, nil", tt.name, ok, err, tt.wantOK)
		}
		if took := clock.now().Sub(start); took != tt.wantTook {
			t.Errorf("%s: Verify took %s, want %s", tt.name, took, tt.wantTook)
		}
	}
	// Only current-cost hashes feed the average that the padding and the queue estimate use.
	if w := h.expectedWait(1); w != cost(current) {
		t.Errorf("average hash time after checks of other costs = %s, want %s", w, cost(current))
	}
}

func TestFirstFailureBeforeAnyTimedHashDoesCurrentCostWork(t *testing.T) {
	t.Parallel()
	current := Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1}
	older := Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	h, clock := costedHasher(current)
	if ok, err := h.Verify(t.Context(), hashWith(t, older, "right password"), "guess"); ok || err != nil {
		t.Fatalf("Verify = %v, %v; want false, nil", ok, err)
	}
	if len(clock.derived) != 2 || clock.derived[0] != older || clock.derived[1] != current {
		t.Errorf("derivations %+v, want the stored cost then the current one", clock.derived)
	}
	if w := h.expectedWait(1); w != cost(current) {
		t.Errorf("average hash time = %s, want the %s of the current-cost work", w, cost(current))
	}
}

func TestPaddingHoldsTheHashingSlot(t *testing.T) {
	t.Parallel()
	h, _ := costedHasher(Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1})
	sleeping, wake := make(chan struct{}), make(chan struct{})
	h.sleep = func(context.Context, time.Duration) {
		close(sleeping)
		<-wake
	}
	h.observeHash(time.Millisecond)
	old := hashWith(t, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, "right password")
	go func() { _, _ = h.Verify(context.Background(), old, "guess") }()
	select {
	case <-sleeping:
	case <-time.After(5 * time.Second):
		t.Fatal("a failed check of an older-cost hash was not padded")
	}
	done := make(chan error, 1)
	go func() { _, err := h.Hash(t.Context(), "another password"); done <- err }()
	waitForQueue(t, h, 1) // the only slot is still taken by the padded check
	close(wake)
	if err := <-done; err != nil {
		t.Errorf("Hash after the padding ended: %v", err)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan struct{})
	go func() { sleep(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sleep outlived its context")
	}
}

func TestPaddedFailuresFollowTheSpreadOfRealHashes(t *testing.T) {
	t.Parallel()
	h, clock := costedHasher(Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1})
	// Real hash times under load: mostly quick, sometimes slow.
	h.observeHash(400 * time.Microsecond)
	h.observeHash(900 * time.Microsecond)
	old := hashWith(t, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, "right password")
	seen := map[time.Duration]int{}
	for range 200 {
		start := clock.now()
		if ok, err := h.Verify(t.Context(), old, "guess"); ok || err != nil {
			t.Fatalf("Verify = %v, %v; want false, nil", ok, err)
		}
		seen[clock.now().Sub(start)]++
	}
	if len(seen) != 2 || seen[400*time.Microsecond] == 0 || seen[900*time.Microsecond] == 0 {
		t.Errorf("padded failures took %v, want both recorded hash times and nothing else", seen)
	}
}

func TestRecentHashesKeepsTheLast32(t *testing.T) {
	t.Parallel()
	var r recentHashes
	if _, ok := r.sample(); ok {
		t.Fatal("sample of nothing recorded reported a duration")
	}
	for i := range 40 {
		r.add(time.Duration(i + 1))
	}
	seen := map[time.Duration]bool{}
	for range 5000 {
		d, _ := r.sample()
		if d < 9 || d > 40 {
			t.Fatalf("sample = %d, want one of the last 32 recorded (9 to 40)", d)
		}
		seen[d] = true
	}
	if len(seen) != 32 {
		t.Errorf("sampled %d distinct durations of the last 32", len(seen))
	}
}
