package outbox

import (
	"errors"
	"testing"
	"time"
)

// Sends that hung through an outage fail after the provider is back: their failures are
// old news, and must not end the drain that the recovery started.
func TestFailuresSentBeforeTheRecoveryDoNotEndTheDrain(t *testing.T) {
	t.Parallel()
	h := newHealth(time.Millisecond)
	t0 := time.Now()
	down := errors.New("503")
	for i := range outageStreak {
		h.observe(down, t0, t0.Add(time.Duration(i)))
	}
	if !h.down() {
		t.Fatal("not down after a streak of failures")
	}
	if !h.observe(nil, t0.Add(time.Second), t0.Add(2*time.Second)) {
		t.Fatal("an acceptance after the streak did not end the outage")
	}
	for range outageStreak {
		h.observe(down, t0.Add(time.Second), t0.Add(5*time.Second)) // sent before the acceptance
	}
	if p := h.plan(16, t0.Add(5*time.Second)); h.down() || !p.waiting || p.limit != 16 {
		t.Errorf("after stale failures: down %v, plan %+v; want a drain of every free slot", h.down(), p)
	}
	for range outageStreak {
		h.observe(down, t0.Add(6*time.Second), t0.Add(7*time.Second)) // sent after it
	}
	if !h.down() {
		t.Error("fresh failures after the recovery did not count")
	}
}
