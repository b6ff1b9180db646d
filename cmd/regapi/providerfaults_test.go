package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// throttleDelay is the Retry-After of every 429 the fake provider answers in these tests.
const throttleDelay = 3 * time.Second

// retryAfterOn429 adds Retry-After to every 429 that passes through it.
type retryAfterOn429 struct{ http.ResponseWriter }

func (w retryAfterOn429) WriteHeader(status int) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", fmt.Sprint(int(throttleDelay/time.Second)))
	}
	w.ResponseWriter.WriteHeader(status)
}

// fault is how the fake provider treats the emails to one kind of recipient.
type fault struct {
	name     string
	behave   func(attempt int, r *http.Request) (status int, injected string)
	attempts int // attempts each email takes, for the ones delivered
	dead     bool
}

var providerFaults = []fault{
	{name: "server-error", attempts: 3, behave: func(attempt int, _ *http.Request) (int, string) {
		switch attempt {
		case 1:
			return http.StatusInternalServerError, "500"
		case 2:
			return http.StatusBadGateway, "502"
		}
		return http.StatusOK, ""
	}},
	{name: "throttled", attempts: 2, behave: func(attempt int, _ *http.Request) (int, string) {
		if attempt == 1 {
			return http.StatusTooManyRequests, "429 with Retry-After"
		}
		return http.StatusOK, ""
	}},
	{name: "timeout", attempts: 2, behave: func(attempt int, r *http.Request) (int, string) {
		if attempt == 1 {
			return hang(r), "no answer (timeout)"
		}
		return http.StatusOK, ""
	}},
	{name: "slow", attempts: 1, behave: func(int, *http.Request) (int, string) {
		time.Sleep(600 * time.Millisecond) // within MAIL_SEND_TIMEOUT: slow, but an answer
		return http.StatusOK, "slow answer (600ms)"
	}},
	// Any 2xx is an acceptance: a malformed body is logged, not retried.
	{name: "malformed", attempts: 1, behave: func(int, *http.Request) (int, string) {
		return http.StatusAccepted, "2xx with a malformed body" // fakeProvider answers it with plain text
	}},
	{name: "rejected400", attempts: 1, dead: true, behave: func(int, *http.Request) (int, string) {
		return http.StatusBadRequest, "400 (permanent)"
	}},
	{name: "rejected422", attempts: 1, dead: true, behave: func(int, *http.Request) (int, string) {
		return http.StatusUnprocessableEntity, "422 (permanent)"
	}},
}

func faultOf(recipient string) fault {
	for _, f := range providerFaults {
		if strings.HasPrefix(recipient, f.name+"-") {
			return f
		}
	}
	panic("no fault for " + recipient)
}

// TestProviderFaults sends emails through a provider that fails each kind of recipient in its
// own way: temporary failures are retried with backoff (a 429's Retry-After honoured) until
// delivered, a permanent rejection is dead at once with its reason, and no email is ever
// being sent twice at the same time.
func TestProviderFaults(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	l := newLedger()
	var f *fakeProvider
	f = newFakeProvider(t, l.wrap(func(key string, attempt int, r *http.Request) int {
		status, injected := faultOf(f.recipientOf(key)).behave(attempt, r)
		if injected != "" {
			l.fault(injected)
		}
		return status
	}))
	front := newFront(t, f)
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["MAIL_SEND_TIMEOUT"] = "mailpit", front, "1s"
	a := startApp(t, env)

	const perFault = 3
	db := registerEachFault(t, a, env, perFault, 30*time.Second)

	f.mu.Lock()
	l.mu.Lock()
	for to, keys := range f.keysOf {
		flt := faultOf(to)
		if len(keys) != 1 {
			t.Errorf("%s: %d idempotency keys for one email", to, len(keys))
			continue
		}
		key := keys[0]
		if got := f.attempts[key]; got != flt.attempts {
			t.Errorf("%s: %d attempts, want %d", to, got, flt.attempts)
		}
		if wantAccepts := map[bool]int{false: 1, true: 0}[flt.dead]; l.accepts[key] != wantAccepts {
			t.Errorf("%s: accepted %d times, want %d", to, l.accepts[key], wantAccepts)
		}
		checkBackoff(t, to, flt, l.arrivals[key])
	}
	maxInFlight := l.maxInFlight
	l.mu.Unlock()
	f.mu.Unlock()
	if maxInFlight != 1 {
		t.Errorf("one email was being sent %d times at once", maxInFlight)
	}
	checkDead(t, db, perFault)

	d := l.deliveries(f)
	wantDelivered := perFault * (len(providerFaults) - 2)
	if d.delivered != wantDelivered || d.resentKeys != 0 || d.extraEmails != 0 {
		t.Errorf("delivered %d (want %d), keys accepted twice %d, extra emails %d", d.delivered, wantDelivered, d.resentKeys, d.extraEmails)
	}
	t.Logf("provider faults: %d registrations, %d provider requests, faults injected %v; "+
		"emails expected %d, delivered %d, duplicated %d, dead %d; most sends of one email at once: %d",
		perFault*len(providerFaults), d.requests, l.faults, wantDelivered, d.delivered, d.resentKeys+d.extraEmails,
		2*perFault, maxInFlight)
}

// newFront serves f's send API with Retry-After on its 429s, and returns its base URL.
func newFront(t *testing.T, f *fakeProvider) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(retryAfterOn429{w}, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// checkBackoff checks the gaps between the attempts of one email: at least the provider's
// Retry-After after a 429, at least the base backoff (1s) after other failures.
func checkBackoff(t *testing.T, to string, flt fault, arrivals []time.Time) {
	t.Helper()
	// The client's clock starts a little before the provider sees the request.
	const slack = 100 * time.Millisecond
	for i := 1; i < len(arrivals); i++ {
		gap := arrivals[i].Sub(arrivals[i-1])
		least := time.Second
		if flt.name == "throttled" {
			least = throttleDelay
		}
		if flt.name == "timeout" && i == 1 {
			least += time.Second // the first attempt ran for the whole send timeout
		}
		if gap < least-slack {
			t.Errorf("%s: attempt %d came %s after the one before, want at least %s", to, i+1, gap, least)
		}
	}
}

// checkDead checks that the permanently rejected emails are dead after their first attempt,
// with the provider's status and message kept for operators, and that nothing else is.
func checkDead(t *testing.T, db *pgxpool.Pool, perFault int) {
	t.Helper()
	rows, err := db.Query(context.Background(),
		"SELECT recipient, attempts, coalesce(last_error, '') FROM outbox WHERE status = 'dead'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	dead := 0
	for rows.Next() {
		var to, reason string
		var attempts int
		if err := rows.Scan(&to, &attempts, &reason); err != nil {
			t.Fatal(err)
		}
		dead++
		flt := faultOf(to)
		status := strings.TrimPrefix(flt.name, "rejected")
		if !flt.dead || attempts != 1 || !strings.Contains(reason, status) || !strings.Contains(reason, "provider trouble") {
			t.Errorf("dead: %s after %d attempts, reason %q", to, attempts, reason)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if dead != 2*perFault {
		t.Errorf("%d dead emails, want %d", dead, 2*perFault)
	}
}

// TestProviderOutageLosesNoMail takes the provider away while users register: for the first
// half of the outage every connection to its address is reset, for the second half it
// answers 503. Every email must arrive once it is back, none twice. The outage lasts
// 10 seconds, or 60 with REGAPI_LONG_TESTS=1.
func TestProviderOutageLosesNoMail(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	outage := 10 * time.Second
	if os.Getenv("REGAPI_LONG_TESTS") == "1" {
		outage = 60 * time.Second
	}
	l := newLedger()
	var back time.Time // when the outage ends; set before the provider's gate opens
	f := newFakeProvider(t, l.wrap(func(string, int, *http.Request) int {
		if time.Now().Before(back) {
			l.fault("503")
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}))
	f.drain()
	// Bound from the start, and held: it resets every connection until half the outage is over.
	ln := newGate(t)
	up := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close() })
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["MAIL_SEND_TIMEOUT"] = "mailpit", "http://"+ln.Addr().String(), "1s"
	env["LOG_LEVEL"] = "info"
	a := startApp(t, env)

	start := time.Now()
	back = start.Add(outage)
	registered := map[string]time.Time{}
	const users = 20
	for i := range users {
		email := fmt.Sprintf("outage-%d@example.com", i)
		a.register(t, email, "password-1234").want(t, http.StatusCreated, "")
		registered[email] = time.Now()
		time.Sleep(outage / 2 / users) // spread over the half with connections reset
	}
	time.Sleep(time.Until(start.Add(outage / 2)))
	ln.open.Store(true)

	// Full-jitter backoff may wait up to twice the outage after it ends.
	db := openDB(t, env["DATABASE_URL"])
	waitUntil(t, 2*outage+30*time.Second, func() (bool, string) {
		state := outboxState(t, db)
		return state["pending"] == 0, fmt.Sprintf("outbox %v", state)
	})
	var longest time.Duration
	l.mu.Lock()
	f.mu.Lock()
	for email, at := range registered {
		keys := f.keysOf[email]
		if len(keys) != 1 || l.accepts[keys[0]] != 1 {
			t.Errorf("%s: idempotency keys %v, accepted %v", email, keys, l.accepts)
			continue
		}
		arrivals := l.arrivals[keys[0]]
		longest = max(longest, arrivals[len(arrivals)-1].Sub(at))
	}
	maxInFlight := l.maxInFlight
	f.mu.Unlock()
	l.mu.Unlock()
	if maxInFlight != 1 {
		t.Errorf("one email was being sent %d times at once", maxInFlight)
	}
	if state := outboxState(t, db); state["dead"] != 0 {
		t.Errorf("outbox %v: mail was given up on", state)
	}
	refused := strings.Count(a.stdout.String(), "connection reset")
	d := l.deliveries(f)
	t.Logf("provider outage of %s: %d registrations; %d provider requests answered; faults injected: "+
		"%d sends had their connection reset, %d answered 503; emails expected %d, delivered %d, duplicated %d; "+
		"longest delay from registration to delivery %s",
		outage, users, d.requests, refused, l.faults["503"], users, d.delivered, d.resentKeys+d.extraEmails,
		longest.Round(100*time.Millisecond))
}

// registerEachFault registers perFault accounts for each of providerFaults and waits up to
// timeout until the outbox holds no pending email; it returns the database it watched.
func registerEachFault(t *testing.T, a *app, env map[string]string, perFault int, timeout time.Duration) *pgxpool.Pool {
	t.Helper()
	for _, flt := range providerFaults {
		for i := range perFault {
			a.register(t, fmt.Sprintf("%s-%d@example.com", flt.name, i), "password-1234").want(t, http.StatusCreated, "")
		}
	}
	db := openDB(t, env["DATABASE_URL"])
	waitUntil(t, timeout, func() (bool, string) {
		state := outboxState(t, db)
		return state["pending"] == 0, fmt.Sprintf("outbox %v", state)
	})
	return db
}
