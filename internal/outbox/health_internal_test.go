package outbox

import (
	"errors"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
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

// A throttling answer to a request sent before the provider's last acceptance still asks for
// a pause as of that answer: the drain the acceptance started waits for it, and no message
// waiting for a retry is pulled forward before the provider's Retry-After.
func TestAThrottlingAnswerIsNeverOldNews(t *testing.T) {
	t.Parallel()
	h := newHealth(time.Millisecond)
	t0 := time.Now()
	for i := range outageStreak {
		h.observe(errors.New("503"), t0, t0.Add(time.Duration(i)))
	}
	if !h.observe(nil, t0.Add(time.Second), t0.Add(2*time.Second)) {
		t.Fatal("an acceptance after the streak did not end the outage")
	}
	throttled := &mail.ThrottledError{Err: errors.New("429"), RetryAfter: 3 * time.Second}
	h.observe(throttled, t0.Add(time.Second), t0.Add(3*time.Second)) // sent before the acceptance
	if p := h.plan(16, t0.Add(4*time.Second)); p.waiting {
		t.Errorf("1 s into a 3 s Retry-After: plan %+v, want no waiting message pulled forward", p)
	}
	if p := h.plan(16, t0.Add(6*time.Second+time.Millisecond)); p.probe == false && p.limit == 0 {
		t.Errorf("after the Retry-After: plan %+v, want the provider tried again", p)
	}
}
