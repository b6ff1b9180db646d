package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestScaleOutDeliversEachEmailOnce runs three API processes and two workers on one
// database, spreads 2,000 registrations over the API processes, and checks that every email
// is delivered exactly once although five dispatchers compete for the outbox.
func TestScaleOutDeliversEachEmailOnce(t *testing.T) {
	t.Parallel()
	l := newLedger()
	f := newFakeProvider(t, l.wrap(func(string, int, *http.Request) int { return http.StatusOK }))
	f.drain()
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["LOG_LEVEL"] = "mailpit", f.URL, "info"

	var procs []*process
	var bases []string
	for range 3 {
		p := spawn(t, "serve", env)
		procs = append(procs, p)
		bases = append(bases, "http://"+p.addr)
	}
	for range 2 {
		procs = append(procs, spawn(t, "worker", env))
	}

	const registrations = 2000
	traffic := newTally()
	var violations violationLog
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			c := loadClient()
			for {
				n := next.Add(1) - 1
				if n >= registrations {
					return
				}
				email := fmt.Sprintf("scale-%d@example.com", n)
				ans := postRegistration(c, bases[n%int64(len(bases))], email, "password-1234")
				traffic.add(email, ans)
				violations.check(email, ans)
			}
		})
	}
	wg.Wait()
	registered := time.Since(start)
	violations.report(t, "")
	counts, told := traffic.snapshot()
	if len(told) != registrations {
		t.Fatalf("%d of %d registrations succeeded: %v", len(told), registrations, counts)
	}

	db := openDB(t, env["DATABASE_URL"])
	waitUntil(t, 60*time.Second, func() (bool, string) {
		state := outboxState(t, db)
		return state["sent"] == registrations, fmt.Sprintf("outbox %v", state)
	})
	delivered := time.Since(start)
	for email := range told {
		if !l.acceptedFor(f, email) {
			t.Errorf("%s: no email accepted", email)
		}
	}
	d := l.deliveries(f)
	if d.delivered != registrations || d.resentKeys != 0 || d.extraEmails != 0 || d.requests != registrations {
		t.Errorf("emails: %d requests, %d delivered, %d keys accepted twice, %d extra emails; want %d each once",
			d.requests, d.delivered, d.resentKeys, d.extraEmails, registrations)
	}
	var perProcess []int
	for _, p := range procs {
		perProcess = append(perProcess, p.sentEmails())
	}
	t.Logf("scale-out (3 serve, 2 worker): %d registrations %v in %s (all delivered after %s); "+
		"emails expected %d, provider requests %d, delivered %d, duplicated %d; "+
		"sent by serve 1-3 and worker 1-2: %v",
		registrations, counts, registered.Round(10*time.Millisecond), delivered.Round(10*time.Millisecond),
		registrations, d.requests, d.delivered, d.resentKeys+d.extraEmails, perProcess)
}
