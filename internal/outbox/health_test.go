package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// switchProvider is a provider whose outage is switched on and off by the test. It answers
// after latency, like a real one, and records how many sends it had in flight at most.
type switchProvider struct {
	latency  time.Duration
	down     atomic.Bool
	hang     atomic.Bool  // while down: answer nothing until the sender gives up
	throttle atomic.Int64 // while down: a Retry-After to answer with, in nanoseconds; 0 for a 503
	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (p *switchProvider) Send(ctx context.Context, _ mail.Message, _ string) error {
	p.calls.Add(1)
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for peak := p.peak.Load(); n > peak && !p.peak.CompareAndSwap(peak, n); peak = p.peak.Load() {
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(p.latency):
	}
	if !p.down.Load() {
		return nil
	}
	if p.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if ra := time.Duration(p.throttle.Load()); ra > 0 {
		return &mail.ThrottledError{Err: errUnavailable, RetryAfter: ra}
	}
	return errUnavailable
}

// addBacklog adds n messages as an outage of some length leaves them: attempt attempts made,
// each waiting out a backoff drawn as the dispatcher draws it.
func (h *harness) addBacklog(cfg outbox.Config, n, attempt int) {
	email := h.keys.seal(registration.Email{Kind: registration.EmailActivationCode, To: "backlog@example.com", Code: testCode, ValidFor: time.Minute})
	for range n {
		id := h.store.add(email, h.keys.ids[rand.N(len(h.keys.ids))])
		h.store.mu.Lock()
		r := h.store.rows[id-1]
		r.Attempt, r.failedAt = attempt, time.Now().Add(-cfg.WithDefaults().BaseBackoff)
		r.due = r.failedAt.Add(cfg.WithDefaults().Backoff(attempt))
		h.store.mu.Unlock()
	}
}

// arrive adds registrations at perSecond until ctx ends, as the service's traffic would.
func (h *harness) arrive(ctx context.Context, wg *sync.WaitGroup, perSecond int) {
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				h.addEmail(fmt.Sprintf("new%d@example.com", i))
			}
		}
	})
}

// TestBacklogDrainsWithinSecondsOfRecovery replays the soak's outage at its load (150
// registrations/s, a backlog of 2,302 emails) for outages of growing length, up to the
// dead horizon: the backlog's messages then wait out backoffs of up to MaxBackoff. 99 % of
// it must be sent within 10 s of the provider's recovery, never more than Concurrency at once.
func TestBacklogDrainsWithinSecondsOfRecovery(t *testing.T) {
	t.Parallel()
	cfg := outbox.Config{From: "no-reply@regapi.local"} // production defaults: 1s poll, 5m max backoff
	// Sequential: each case keeps a dispatcher busy, and they would slow each other down.
	for _, attempt := range []int{8, cfg.WithDefaults().MaxAttempts - 2} {
		t.Run(fmt.Sprintf("after attempt %d", attempt), func(t *testing.T) {
			p := &switchProvider{latency: 10 * time.Millisecond}
			p.down.Store(true)
			h := newHarness(t, nil)
			h.addBacklog(cfg, 2302, attempt)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			h.arrive(ctx, &wg, 150)
			h.runWith(t, cfg, p)

			// The outage goes on while the dispatcher probes, then the provider recovers.
			probe := cfg.WithDefaults().ProbeInterval
			eventually(t, "the provider fails", func() bool { return p.calls.Load() >= 3 })
			time.Sleep(probe) // the sends claimed before the outage was known are answered
			callsDown := p.calls.Load()
			time.Sleep(8 * probe)
			if probes := p.calls.Load() - callsDown; probes > 9 {
				t.Errorf("%d sends in 8 probe intervals of a known outage, want one probe each", probes)
			}
			if down := gauge(t, h, "regapi_email_provider_down"); down != 1 {
				t.Errorf("regapi_email_provider_down = %v during the outage, want 1", down)
			}
			pending := h.store.count("pending")
			p.down.Store(false)
			recovered := time.Now()
			within(t, 10*time.Second, "99% of the backlog is sent", func() bool {
				return h.store.count("sent") >= pending*99/100
			})
			t.Logf("after attempt %d: %d pending at recovery, 99%% sent in %s", attempt, pending, time.Since(recovered).Round(time.Millisecond))
			if peak := p.peak.Load(); peak > int64(cfg.WithDefaults().Concurrency) {
				t.Errorf("%d sends at once, want at most Concurrency (%d)", peak, cfg.WithDefaults().Concurrency)
			}
			if down := gauge(t, h, "regapi_email_provider_down"); down != 0 {
				t.Errorf("regapi_email_provider_down = %v after recovery, want 0", down)
			}
			if dead := h.store.count("dead"); dead != 0 {
				t.Errorf("%d emails given up on during the outage", dead)
			}
		})
	}
}

// TestOutageHonoursRetryAfter: a provider that asks for a pause gets no probe, and no
// drain, before it ends.
func TestOutageHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	p := &switchProvider{}
	p.down.Store(true)
	p.throttle.Store(int64(2 * time.Second))
	h := newHarness(t, nil)
	for i := range 50 {
		h.add(t, fmt.Sprintf("a%d@example.com", i))
	}
	cfg := fast
	cfg.Concurrency = 4
	h.runWith(t, cfg, p)

	eventually(t, "the outage is noticed", func() bool { return p.calls.Load() >= 4 })
	// The sends of the first claim may still be arriving on a loaded machine: count from
	// when they stopped, well inside the pause.
	throttled := settled(&p.calls, 100*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	if n := p.calls.Load() - throttled; n != 0 {
		t.Errorf("%d sends within the provider's Retry-After, want none", n)
	}
	p.down.Store(false)
	eventually(t, "every email is sent after the pause", func() bool { return h.store.count("sent") == 50 })
}

// TestHangingProviderIsFoundBackSoon: against a provider that stopped answering, each probe
// hangs for a whole SendTimeout; the next one must not wait for it, or the recovery is seen
// up to SendTimeout late.
func TestHangingProviderIsFoundBackSoon(t *testing.T) {
	t.Parallel()
	p := &switchProvider{}
	p.down.Store(true)
	p.hang.Store(true)
	h := newHarness(t, nil)
	cfg := outbox.Config{From: "no-reply@regapi.local", SendTimeout: 5 * time.Second}
	h.addBacklog(cfg, 200, 8)
	for i := range 20 {
		h.add(t, fmt.Sprintf("due%d@example.com", i))
	}
	h.runWith(t, cfg, p)

	// The first sends hang for a SendTimeout each before their failures show the outage.
	within(t, 3*cfg.SendTimeout, "the outage is noticed", func() bool { return p.calls.Load() > 16 })
	calls := p.calls.Load()
	eventually(t, "a probe starts", func() bool { return p.calls.Load() > calls })
	p.down.Store(false)                                   // right after a probe began to hang
	recovered, hung := time.Now(), int(p.inFlight.Load()) // those wait out their SendTimeout
	within(t, 3*time.Second, "all but the hung sends are sent", func() bool { return h.store.count("sent") >= 220-hung })
	t.Logf("%d emails sent %s after the recovery, %d hung", 220-hung, time.Since(recovered).Round(time.Millisecond), hung)
}

// runWith starts the dispatcher on provider instead of the harness's fake one.
func (h *harness) runWith(t *testing.T, cfg outbox.Config, provider mail.Provider) {
	t.Helper()
	h.providerOverride = provider
	h.run(t, cfg)
}

// within fails t unless cond holds within limit.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gauge returns the value of the gauge named name in h's registry.
func gauge(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	families, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// settled waits until n has not changed for quiet and returns its value.
func settled(n *atomic.Int64, quiet time.Duration) int64 {
	last := n.Load()
	for {
		time.Sleep(quiet)
		now := n.Load()
		if now == last {
			return now
		}
		last = now
	}
}
