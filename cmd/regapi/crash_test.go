package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestCrashesLoseNoRegistration kills the real binary with SIGKILL several times while
// clients register and its dispatcher sends, restarting it each time (on a new port, behind
// one address the clients keep). Afterwards every 201 must be in the database, and every committed account must have
// received its email. The provider answers slowly, so that kills land mid-send: an email
// whose sender died between the provider's acceptance and the commit is sent again with
// the same idempotency key (which a provider honouring it sends once); no account may get
// two different emails.
func TestCrashesLoseNoRegistration(t *testing.T) {
	t.Parallel()
	l := newLedger()
	f := newFakeProvider(t, l.wrap(func(_ string, _ int, r *http.Request) int {
		// Like a real provider, this one finishes its work when the sender is gone.
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		if r.Context().Err() != nil {
			l.fault("orphan")
		}
		return http.StatusOK
	}))
	f.drain()
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["MAIL_SEND_TIMEOUT"] = "mailpit", f.URL, "1s"
	env["LOG_LEVEL"] = "info"
	// Each process binds a new port; the clients keep one address, forwarded to the process
	// of the moment.
	fwd := newForwarder(t)
	base := fwd.URL()
	p := spawn(t, "serve", env)
	fwd.point(p.addr)

	traffic := newTally()
	var violations violationLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			c := loadClient()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("crash-w%d-%d@example.com", w, i)
				ans := postRegistration(c, base, email, "password-1234")
				traffic.add(email, ans)
				if ans.err != nil {
					time.Sleep(20 * time.Millisecond) // the server is down: cut off, or refused
					continue
				}
				violations.check(email, ans)
			}
		})
	}
	const crashes = 4
	for range crashes {
		time.Sleep(600*time.Millisecond + rand.N(600*time.Millisecond))
		fwd.point("") // before the kill: its port is free again once the process is gone
		p.kill(t)
		time.Sleep(100 * time.Millisecond)
		p = spawn(t, "serve", env)
		fwd.point(p.addr)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	violations.report(t, p.out.String())

	counts, told := traffic.snapshot()
	db := openDB(t, env["DATABASE_URL"])
	// A message claimed by a killed process waits for its lease (2×1s + 5s) to run out.
	stored, d := reconcile(t, db, told, l, f, 45*time.Second)
	if d.extraEmails != 0 {
		t.Errorf("%d accounts were sent two different emails", d.extraEmails)
	}
	// Each crash can orphan at most the sends in flight (MAIL_CONCURRENCY, 16).
	if d.resentKeys > crashes*16 {
		t.Errorf("%d emails sent again after %d crashes", d.resentKeys, crashes)
	}
	if len(told) < 100 {
		t.Errorf("only %d registrations succeeded: the test did not exercise much", len(told))
	}
	t.Logf("crashes: %d requests %v; faults injected: %d SIGKILLs; 201s %d, committed %d "+
		"(committed but not told 201: %d); emails expected %d, delivered %d, duplicated %d "+
		"(the same idempotency key accepted again: %d, of which the provider had accepted %d after "+
		"their sender was killed and %d before it could record the acceptance; different emails to "+
		"one account: %d)",
		traffic.total(), counts, crashes, len(told), len(stored), len(stored)-len(told),
		len(stored), d.delivered, d.resentKeys+d.extraEmails, d.resentKeys, l.faults["orphan"],
		d.resentKeys-l.faults["orphan"], d.extraEmails)
}
