package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Helpers for the tests that drive traffic while something breaks (dbfault, crash,
// scaleout, providerfaults): they must not stop a test from a goroutine, and they reconcile
// what clients were told with what the database and the provider hold.

// loadClient returns an HTTP client for many concurrent requests, each bounded in time.
func loadClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
}

// answer is one HTTP exchange as a load client saw it: err when there was no response.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	err    error
}

// postRegistration registers email without touching t, so goroutines may call it.
func postRegistration(c *http.Client, base, email, password string) answer {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	req, err := http.NewRequest(http.MethodPost, base+"/v1/users", strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	return do(c, req)
}

// do sends req without touching t.
func do(c *http.Client, req *http.Request) answer {
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, err: err}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// tally counts answers by status ("error" for none), safely from many goroutines.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
	// created maps the email of every 201 to the user id it was given.
	created map[string]string
}

func newTally() *tally { return &tally{counts: map[string]int{}, created: map[string]string{}} }

func (ta *tally) add(email string, a answer) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	switch {
	case a.err != nil:
		ta.counts["error"]++
	case a.status == http.StatusCreated:
		id, _ := a.body["id"].(string)
		ta.created[email] = id
		ta.counts["201"]++
	case a.status < 400:
		ta.counts[fmt.Sprint(a.status)]++
	default:
		code, _ := a.body["code"].(string)
		ta.counts[fmt.Sprintf("%d %s", a.status, code)]++
	}
}

func (ta *tally) snapshot() (map[string]int, map[string]string) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	counts := make(map[string]int, len(ta.counts))
	for k, v := range ta.counts {
		counts[k] = v
	}
	created := make(map[string]string, len(ta.created))
	for k, v := range ta.created {
		created[k] = v
	}
	return counts, created
}

func (ta *tally) total() int {
	counts, _ := ta.snapshot()
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// process is a regapi binary running as a child process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	// addr is the address a serve process logged it listens on.
	addr string
}

// spawn runs `regapi sub` (serve or worker) with env until the test ends; for serve it
// reads the address the process logged (HTTP_ADDR has port 0) and waits until /healthz
// answers there. With go test -short, it skips t.
func spawn(t *testing.T, sub string, env map[string]string) *process {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs regapi processes")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, sub), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	if sub == "serve" {
		p.addr = listeningAddr(t, p.out, nil)
		waitHealthy(t, "http://"+p.addr, nil)
	}
	return p
}

// kill ends the process with SIGKILL, as a crash would, and waits until it is gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("killed process did not go away")
	}
}

// sentEmails counts the emails the process's dispatcher reported sent.
func (p *process) sentEmails() int {
	return strings.Count(p.out.String(), `"msg":"email sent"`)
}

// openDB connects to the test's database for reconciling, until the test ends.
func openDB(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// outboxState counts the outbox messages by status.
func outboxState(t *testing.T, db *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT status, count(*) FROM outbox GROUP BY status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			t.Fatal(err)
		}
		out[status] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// storedUsers returns the id of every account in the database, by email.
func storedUsers(t *testing.T, db *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT email, id::text FROM users")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&email, &id); err != nil {
			t.Fatal(err)
		}
		out[email] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitUntil polls cond until it holds, or fails t after timeout with cond's last word.
func waitUntil(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ledger watches what a fakeProvider is asked, from its behave function: how many requests
// came for each key at once, how many were accepted, and when each attempt arrived.
type ledger struct {
	mu          sync.Mutex
	requests    int
	inFlight    map[string]int
	maxInFlight int
	accepts     map[string]int
	arrivals    map[string][]time.Time
	faults      map[string]int // injected faults by kind
}

func newLedger() *ledger {
	return &ledger{inFlight: map[string]int{}, accepts: map[string]int{}, arrivals: map[string][]time.Time{}, faults: map[string]int{}}
}

// wrap returns behave with the ledger kept around it. behave may call l.fault to count a
// fault it injects.
func (l *ledger) wrap(behave func(key string, attempt int, r *http.Request) int) func(string, int, *http.Request) int {
	return func(key string, attempt int, r *http.Request) int {
		l.mu.Lock()
		l.requests++
		l.inFlight[key]++
		l.maxInFlight = max(l.maxInFlight, l.inFlight[key])
		l.arrivals[key] = append(l.arrivals[key], time.Now())
		l.mu.Unlock()
		status := behave(key, attempt, r)
		l.mu.Lock()
		l.inFlight[key]--
		if status >= 200 && status <= 299 { // any 2xx is an acceptance
			l.accepts[key]++
		}
		l.mu.Unlock()
		return status
	}
}

func (l *ledger) fault(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faults[kind]++
}

// deliveries summarises what the provider accepted: recipients with at least one email,
// keys accepted more than once (a provider that honours Idempotency-Key sends those once),
// and recipients that were sent more than one distinct email.
type deliveries struct {
	requests, delivered, resentKeys, extraEmails int
}

func (l *ledger) deliveries(f *fakeProvider) deliveries {
	l.mu.Lock()
	defer l.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	d := deliveries{requests: l.requests}
	for _, keys := range f.keysOf {
		accepted := 0
		for _, k := range keys {
			if l.accepts[k] > 0 {
				accepted++
			}
			if l.accepts[k] > 1 {
				d.resentKeys++
			}
		}
		if accepted > 0 {
			d.delivered++
		}
		d.extraEmails += max(accepted-1, 0)
	}
	return d
}

// acceptedFor reports whether the provider accepted an email for recipient.
func (l *ledger) acceptedFor(f *fakeProvider, recipient string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keysOf[recipient] {
		if l.accepts[k] > 0 {
			return true
		}
	}
	return false
}

// drain empties f.received for as long as the test binary runs, for tests that send more
// emails than its buffer holds and do not read it.
func (f *fakeProvider) drain() {
	go func() {
		for range f.received {
		}
	}()
}

// recipientOf returns the address the email with key went to.
func (f *fakeProvider) recipientOf(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for to, keys := range f.keysOf {
		for _, k := range keys {
			if k == key {
				return to
			}
		}
	}
	return ""
}

// reconcile checks what clients were told against what was committed and delivered: every
// 201 (told, email → id) is a stored account, and once the outbox drained (within drain)
// every stored account's email reached the provider. It returns the stored accounts and the
// provider's deliveries.
func reconcile(t *testing.T, db *pgxpool.Pool, told map[string]string, l *ledger, f *fakeProvider, drain time.Duration) (map[string]string, deliveries) {
	t.Helper()
	stored := storedUsers(t, db)
	for email, id := range told {
		if stored[email] != id {
			t.Errorf("%s got 201 with id %s, but the database holds %q", email, id, stored[email])
		}
	}
	waitUntil(t, drain, func() (bool, string) {
		state := outboxState(t, db)
		return state["pending"] == 0 && state["dead"] == 0, fmt.Sprintf("outbox %v", state)
	})
	for email := range stored {
		if !l.acceptedFor(f, email) {
			t.Errorf("%s is committed, but its email never reached the provider", email)
		}
	}
	return stored, l.deliveries(f)
}

// skipSlowFaults skips t under go test -short: it waits out real timeouts (a provider that
// hangs, an outage, a client that trickles), which is seconds of wall clock each.
func skipSlowFaults(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: waits out real timeouts")
	}
}
