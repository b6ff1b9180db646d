package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// TestDatabaseOutages stops the service's PostgreSQL under registration traffic, twice (a
// crash, then an operator's fast shutdown), and starts it again. While it is down every
// request must get 503 unavailable (problem+json, Retry-After) and /readyz 503; when it is
// back the same process must serve again by itself. Afterwards every 201 must be in the
// database (no 201 for an uncommitted registration) and every committed email delivered.
func TestDatabaseOutages(t *testing.T) {
	t.Parallel()
	cluster := pgtest.StartCluster(t)
	l := newLedger()
	f := newFakeProvider(t, l.wrap(func(string, int, *http.Request) int { return http.StatusOK }))
	f.drain()
	env := baseEnv(t)
	env["DATABASE_URL"] = cluster.NewDatabase(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["LOG_LEVEL"] = "mailpit", f.URL, "info"
	a := startApp(t, env)

	traffic := newTally()
	var violations violationLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			c := loadClient()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("db-w%d-%d@example.com", w, i)
				ans := postRegistration(c, a.base, email, "password-1234")
				traffic.add(email, ans)
				violations.check(email, ans)
				if ans.status == http.StatusServiceUnavailable {
					time.Sleep(20 * time.Millisecond) // as a client honouring Retry-After would, briefly
				}
			}
		})
	}
	// Signed-in traffic too: its account lookup must fail as cleanly as a registration.
	owner := postRegistration(loadClient(), a.base, "db-owner@example.com", "password-1234")
	if owner.status != http.StatusCreated {
		t.Fatalf("register: %d %v %v", owner.status, owner.body, owner.err)
	}
	traffic.add("db-owner@example.com", owner)
	wg.Go(func() {
		c := loadClient()
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, a.base+"/v1/users/me", nil)
			req.SetBasicAuth("db-owner@example.com", "password-1234")
			ans := do(c, req)
			traffic.add("db-owner@example.com", ans)
			violations.check("GET /v1/users/me", ans)
			if ans.err == nil && ans.status != http.StatusOK && ans.status != http.StatusServiceUnavailable {
				violations.add(fmt.Sprintf("GET /v1/users/me: status %d %v", ans.status, ans.body))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	var created atomic.Int64 // 201s seen since the last check, to prove recovery
	ready := func() int {
		resp, err := http.Get(a.base + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	time.Sleep(time.Second)
	outages := []struct {
		name string
		stop func(testing.TB)
	}{{"crash (pg_ctl stop -m immediate)", cluster.Crash}, {"fast shutdown (pg_ctl stop -m fast)", cluster.Stop}}
	for _, o := range outages {
		o.stop(t)
		down, _ := traffic.snapshot()
		waitUntil(t, 30*time.Second, func() (bool, string) {
			return ready() == http.StatusServiceUnavailable, "/readyz still 200 with the database down"
		})
		time.Sleep(2 * time.Second)
		during, _ := traffic.snapshot()
		if during["503 unavailable"] == down["503 unavailable"] {
			t.Fatalf("%s: no request got 503 unavailable while the database was down: %v", o.name, during)
		}
		cluster.Start(t)
		restarted := time.Now()
		_, before := traffic.snapshot()
		created.Store(int64(len(before)))
		waitUntil(t, 60*time.Second, func() (bool, string) {
			_, now := traffic.snapshot()
			return ready() == http.StatusOK && len(now) > int(created.Load()), "no recovery without a restart"
		})
		t.Logf("%s: recovered %s after the database came back", o.name, time.Since(restarted).Round(10*time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	violations.report(t, a.stdout.String())

	// Reconcile what clients were told with what was committed.
	counts, told := traffic.snapshot()
	db := openDB(t, env["DATABASE_URL"])
	stored, d := reconcile(t, db, told, l, f, 60*time.Second)
	if d.extraEmails != 0 {
		t.Errorf("%d recipients were sent more than one email", d.extraEmails)
	}
	t.Logf("database outages: %d requests %v; faults injected: %d (crash, fast shutdown); "+
		"201s %d, committed %d (committed but not told 201: %d); emails expected %d, delivered %d, "+
		"keys accepted twice %d, extra emails %d",
		traffic.total(), counts, len(outages), len(told), len(stored), len(stored)-len(told),
		len(stored), d.delivered, d.resentKeys, d.extraEmails)
}

// violationLog collects answers that break the contract under faults: a 5xx other than a
// well-formed 503 with Retry-After, or an error without problem+json.
type violationLog struct {
	mu   sync.Mutex
	seen []string
}

func (v *violationLog) check(email string, a answer) {
	var problem string
	switch {
	case a.err != nil:
		problem = fmt.Sprintf("no answer: %v", a.err)
	case a.status >= 400 && a.header.Get("Content-Type") != "application/problem+json":
		problem = fmt.Sprintf("status %d as %s", a.status, a.header.Get("Content-Type"))
	case a.status == http.StatusServiceUnavailable && (a.header.Get("Retry-After") == "" ||
		(a.body["code"] != "unavailable" && a.body["code"] != "overloaded")):
		problem = fmt.Sprintf("503 %v without Retry-After %q", a.body["code"], a.header.Get("Retry-After"))
	case a.status >= 500 && a.status != http.StatusServiceUnavailable:
		problem = fmt.Sprintf("status %d %v", a.status, a.body)
	default:
		return
	}
	v.add(email + ": " + problem)
}

func (v *violationLog) add(problem string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = append(v.seen, problem)
}

// report fails t if there were violations, quoting the server's error lines from log.
func (v *violationLog) report(t *testing.T, log string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) > 0 {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Log(line)
			}
		}
		t.Fatalf("%d answers broke the contract, such as:\n%s", len(v.seen), strings.Join(v.seen[:min(len(v.seen), 10)], "\n"))
	}
}
