package main

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestProviderFaultsOverSMTPAndWebhook plays the faults of TestProviderFaults behind the SMTP
// and webhook providers: temporary failures are retried with backoff until delivered, a
// permanent refusal is dead at once with its reason, one key per email, none sent twice at
// once. SMTP has no Retry-After: a throttled email waits the usual backoff there.
func TestProviderFaultsOverSMTPAndWebhook(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	for _, name := range slices.Sorted(maps.Keys(transports)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runProviderFaults(t, name, transports[name])
		})
	}
}

func runProviderFaults(t *testing.T, name string, tr transport) {
	l := newLedger()
	var f *fakeProvider
	f = newFakeProvider(t, l.wrap(func(key string, attempt int, r *http.Request) int {
		status, injected := faultOf(f.recipientOf(key)).behave(attempt, r)
		if injected != "" {
			l.fault(injected)
		}
		return status
	}))
	env := baseEnv(t)
	for k, v := range tr.listen(t, f) {
		env[k] = v
	}
	env["MAIL_SEND_TIMEOUT"] = "1s"
	a := startApp(t, env)
	const perFault = 2
	db := registerEachFault(t, a, env, perFault, 40*time.Second)
	checkFaultLedger(t, name, f, l)
	checkDead(t, db, perFault)
	d := l.deliveries(f)
	if want := perFault * (len(providerFaults) - 2); d.delivered != want || d.resentKeys != 0 || d.extraEmails != 0 {
		t.Errorf("delivered %d (want %d), keys accepted twice %d, extra emails %d", d.delivered, want, d.resentKeys, d.extraEmails)
	}
	t.Logf("%s provider faults: %d provider requests, faults injected %v, delivered %d, duplicated %d",
		name, d.requests, l.faults, d.delivered, d.resentKeys+d.extraEmails)
}

// checkFaultLedger checks each email's attempts, acceptances and backoff against its fault.
func checkFaultLedger(t *testing.T, name string, f *fakeProvider, l *ledger) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for to, keys := range f.keysOf {
		flt := faultOf(to)
		if len(keys) != 1 {
			t.Errorf("%s: %d idempotency keys for one email", to, len(keys))
			continue
		}
		if got := f.attempts[keys[0]]; got != flt.attempts {
			t.Errorf("%s: %d attempts, want %d", to, got, flt.attempts)
		}
		if want := map[bool]int{false: 1, true: 0}[flt.dead]; l.accepts[keys[0]] != want {
			t.Errorf("%s: accepted %d times, want %d", to, l.accepts[keys[0]], want)
		}
		if name == "smtp" && flt.name == "throttled" {
			flt.name = "throttled without Retry-After"
		}
		checkBackoff(t, to, flt, l.arrivals[keys[0]])
	}
	if l.maxInFlight != 1 {
		t.Errorf("one email was being sent %d times at once", l.maxInFlight)
	}
}

// TestProviderOutageOverSMTPAndWebhook takes the relay or receiver away while users
// register: every connection is reset for the first half of the outage, then it refuses
// (451 or 503).
// Every email arrives once it is back, none twice, none dead.
func TestProviderOutageOverSMTPAndWebhook(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	for name, tr := range transports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const outage, users = 6 * time.Second, 8
			l := newLedger()
			var back time.Time
			f := newFakeProvider(t, l.wrap(func(string, int, *http.Request) int {
				if time.Now().Before(back) {
					l.fault("503")
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			}))
			f.drain()
			// Bound from the start: it resets every connection until half the outage is over.
			ln := newGate(t)
			tr.serve(t, f, ln)
			env := baseEnv(t)
			for k, v := range tr.env(ln.Addr().String()) {
				env[k] = v
			}
			env["MAIL_SEND_TIMEOUT"] = "1s"
			a := startApp(t, env)
			back = time.Now().Add(outage)
			for i := range users {
				a.register(t, fmt.Sprintf("outage-%d@example.com", i), "password-1234").want(t, http.StatusCreated, "")
			}
			time.Sleep(outage / 2)
			ln.open.Store(true)
			db := openDB(t, env["DATABASE_URL"])
			waitUntil(t, 2*outage+30*time.Second, func() (bool, string) {
				state := outboxState(t, db)
				return state["pending"] == 0 && state["dead"] == 0, fmt.Sprintf("outbox %v", state)
			})
			if d := l.deliveries(f); d.delivered != users || d.resentKeys+d.extraEmails != 0 {
				t.Errorf("delivered %d of %d, duplicated %d", d.delivered, users, d.resentKeys+d.extraEmails)
			}
			t.Logf("%s outage of %s: %d refusals injected, %d delivered", name, outage, l.faults["503"], users)
		})
	}
}

// TestKilledSenderOverSMTPAndWebhook kills the process (SIGKILL) while its first attempt
// waits for the relay or receiver; the process started after it sends the email again with
// the same Message-ID or webhook-id, and its code activates the account.
func TestKilledSenderOverSMTPAndWebhook(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	for name, tr := range transports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newHangingFirstAttempt(t)
			env := baseEnv(t)
			for k, v := range tr.listen(t, f) {
				env[k] = v
			}
			env["MAIL_SEND_TIMEOUT"] = "1s"
			checkKilledSenderIsReplaced(t, env, f)
		})
	}
}
