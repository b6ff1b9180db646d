// Command failover is the client of scripts/failover.sh: it drives registrations against a
// regapi whose database fails over, performs the faults it is given, and checks what regapi
// promises across them. It also runs the walkthrough register → email → activate, alone
// (-walkthrough), for scripts/pgbouncer.sh.
//
// Every registration is retried, after each 503, 409 request_in_progress or lost answer, with
// the same Idempotency-Key and body until it gets a final answer. Emails arrive at the
// webhook receiver it serves (regapi's MAIL_PROVIDER=webhook). It checks: no 500; every
// client ends with 201 (never 409 email_taken for its own registration); every 201 is in the
// database; every account got its activation email under one key; regapi still answers; its
// outbox listener holds a LISTEN session on the primary. It prints one table row per fault
// and exits 1 when a check fails.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// fault is one fault to perform: its name in the table and the shell command that causes it.
type fault struct{ name, command string }

type faults []fault

func (f *faults) String() string { return fmt.Sprint(*f) }

func (f *faults) Set(v string) error {
	name, command, ok := strings.Cut(v, "=")
	if !ok || name == "" || command == "" {
		return errors.New(`want "name=shell command"`)
	}
	*f = append(*f, fault{name, command})
	return nil
}

func main() {
	var cfg config
	flag.StringVar(&cfg.api, "api", "", "regapi's base URL, e.g. http://127.0.0.1:8080")
	flag.StringVar(&cfg.webhookAddr, "webhook-addr", "", "host:port to receive regapi's emails on (MAIL_PROVIDER=webhook)")
	flag.StringVar(&cfg.databaseURL, "database-url", "", "the database's URL (multi-host, read-write) for the checks")
	flag.Float64Var(&cfg.rate, "rate", 30, "registrations started per second")
	flag.DurationVar(&cfg.before, "before", 3*time.Second, "traffic before each fault")
	flag.DurationVar(&cfg.after, "after", 8*time.Second, "traffic after the database is writable again")
	flag.DurationVar(&cfg.maxPhase, "max-phase", 90*time.Second, "longest phase: the database must be writable again within it")
	flag.Var(&cfg.faults, "fault", `a fault, "name=shell command" (repeatable, in order)`)
	walkthrough := flag.Bool("walkthrough", false, "only register, read the code from the email, activate")
	flag.Parse()
	if cfg.api == "" || cfg.webhookAddr == "" || (!*walkthrough && (cfg.databaseURL == "" || len(cfg.faults) == 0)) {
		flag.Usage()
		os.Exit(2)
	}
	inbox, err := serveInbox(cfg.webhookAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
	if err := waitReady(cfg.api, 30*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
	if *walkthrough {
		err = runWalkthrough(cfg.api, inbox)
	} else {
		err = run(cfg, inbox)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover: FAIL:", err)
		os.Exit(1)
	}
}

type config struct {
	api, webhookAddr, databaseURL string
	rate                          float64
	before, after, maxPhase       time.Duration
	faults                        faults
}

// --- the email receiver -------------------------------------------------------------------

// delivery is one email regapi posted.
type delivery struct {
	key, kind, code string
}

// inbox records every email posted to the webhook receiver, by recipient.
type inbox struct {
	mu   sync.Mutex
	byTo map[string][]delivery
}

func serveInbox(addr string) (*inbox, error) {
	in := &inbox{byTo: map[string][]delivery{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	srv := &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // serves until the process ends
	return in, nil
}

func (in *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var event struct {
		Type string `json:"type"`
		Data struct {
			To   string `json:"to"`
			Code string `json:"code"`
		} `json:"data"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &event) != nil || event.Data.To == "" {
		http.Error(w, "not an email event", http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	in.byTo[event.Data.To] = append(in.byTo[event.Data.To], delivery{key: r.Header.Get("webhook-id"), kind: event.Type, code: event.Data.Code})
	in.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (in *inbox) get(to string) []delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]delivery(nil), in.byTo[to]...)
}

// --- requests -----------------------------------------------------------------------------

var client = &http.Client{Timeout: 10 * time.Second}

func waitReady(api string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(api + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz did not answer 200 within %s", api, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// answer is one attempt's outcome: a status (0: no answer, err says why).
type answer struct {
	status     int
	code       string // the problem's code
	replayed   bool
	retryAfter time.Duration
	body       map[string]any
	err        error
}

func post(api, path, key, userinfo string, body any) answer {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, api+path, bytes.NewReader(b))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if user, pass, ok := strings.Cut(userinfo, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	a := answer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		a.retryAfter = time.Duration(s) * time.Second
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.status, a.err = 0, err
		return a
	}
	_ = json.Unmarshal(raw, &a.body)
	a.code, _ = a.body["code"].(string)
	return a
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	// #nosec G404 -- jitter only spreads retries out; it need not be unpredictable.
	return mrand.N(d)
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- the failover run ---------------------------------------------------------------------

// registration is one client's registration, retried until it gets a final answer.
type registration struct {
	email    string
	phase    int
	attempts []answer
	final    answer
	finalAt  time.Time
}

// retryable reports whether a is to be retried with the same key: no answer, 503, or the
// first attempt still in progress.
func retryable(a answer) bool {
	return a.err != nil || a.status == http.StatusServiceUnavailable ||
		(a.status == http.StatusConflict && a.code == "request_in_progress")
}

func register(api, email string, giveUp time.Time) *registration {
	r := &registration{email: email}
	key, body := newKey(), map[string]string{"email": email, "password": "failover password " + email}
	for {
		a := post(api, "/v1/users", key, "", body)
		r.attempts = append(r.attempts, a)
		if !retryable(a) || time.Now().After(giveUp) {
			r.final, r.finalAt = a, time.Now()
			return r
		}
		// As the contract asks: after Retry-After (at most 5 s here), spread by a random
		// part so that the clients of one outage do not come back all at once.
		wait := 200 * time.Millisecond
		if a.retryAfter > 0 {
			wait = min(a.retryAfter, 5*time.Second)
		}
		time.Sleep(wait + jitter(wait/2))
	}
}

// probe tells when the database accepts a write, trying every 50 ms.
type probe struct {
	mu        sync.Mutex
	url       string
	down      bool      // the last write failed
	downSince time.Time // when writes started failing, in the current phase
	upAgain   time.Time // the first write that worked after a failure, in the current phase
}

func (p *probe) run(ctx context.Context) {
	var conn *pgx.Conn
	for ctx.Err() == nil {
		ok := func() bool {
			c, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if conn == nil {
				var err error
				if conn, err = pgx.Connect(c, p.url); err != nil {
					conn = nil
					return false
				}
			}
			// An XID makes the commit wait for the synchronous standby.
			if _, err := conn.Exec(c, "SELECT txid_current()"); err != nil {
				_ = conn.Close(context.Background())
				conn = nil
				return false
			}
			return true
		}()
		now := time.Now()
		p.mu.Lock()
		switch {
		case !ok && !p.down:
			p.down = true
			if p.downSince.IsZero() {
				p.downSince = now
			}
		case ok && p.down:
			p.down = false
			p.upAgain = now
		}
		p.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if conn != nil {
		_ = conn.Close(context.Background())
	}
}

// reset starts a phase: nothing seen yet.
func (p *probe) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downSince, p.upAgain = time.Time{}, time.Time{}
}

// writableAgain returns when the database took a write again after failing, if it has.
func (p *probe) writableAgain() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upAgain, !p.upAgain.IsZero() && !p.down
}

// phaseResult is a fault's row of the table.
type phaseResult struct {
	name           string
	faultAt        time.Time
	writableAt     time.Time
	first201       time.Duration
	ok201, s503    int
	s500           int
	lost           int
	undelivered    int
	duplicates     int
	committed503   int
	violations     []string
	registrations  []*registration
	faultErr       error
	neverUnwritten bool
}

func run(cfg config, in *inbox) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &probe{url: cfg.databaseURL}
	go p.run(ctx)

	var (
		mu    sync.Mutex
		regs  []*registration
		wg    sync.WaitGroup
		phase int
	)
	run := fmt.Sprintf("%d", time.Now().Unix())
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			ph := phase
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := register(cfg.api, fmt.Sprintf("fo-%s-%d@example.com", run, n), time.Now().Add(cfg.maxPhase))
				r.phase = ph
				mu.Lock()
				regs = append(regs, r)
				mu.Unlock()
			}()
		}
	}()

	results := make([]*phaseResult, len(cfg.faults))
	for i, f := range cfg.faults {
		res := &phaseResult{name: f.name}
		results[i] = res
		mu.Lock()
		phase = i
		mu.Unlock()
		p.reset()
		time.Sleep(cfg.before)
		res.faultAt = time.Now()
		fmt.Printf("failover: %s: %s\n", f.name, f.command)
		// #nosec G204 -- the command is the fault the operator of this test run asked for
		out, err := exec.Command("sh", "-c", f.command).CombinedOutput()
		if err != nil {
			res.faultErr = fmt.Errorf("%s: %v: %s", f.command, err, strings.TrimSpace(string(out)))
		}
		deadline := res.faultAt.Add(cfg.maxPhase)
		for {
			if at, ok := p.writableAgain(); ok {
				res.writableAt = at
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if res.writableAt.IsZero() {
			res.neverUnwritten = true
		}
		time.Sleep(cfg.after)
	}
	close(stop)
	wg.Wait()
	cancel()

	db, err := pgx.Connect(context.Background(), cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("connect for the checks: %w", err)
	}
	defer func() { _ = db.Close(context.Background()) }()
	for _, r := range regs {
		results[r.phase].registrations = append(results[r.phase].registrations, r)
	}
	failed := false
	for _, res := range results {
		check(res, db, in)
		failed = failed || len(res.violations) > 0 || res.faultErr != nil || res.writableAt.IsZero()
	}
	global := globalChecks(cfg, db)
	printTable(results)
	for _, res := range results {
		if res.faultErr != nil {
			fmt.Printf("FAIL %s: the fault failed: %v\n", res.name, res.faultErr)
		}
		if res.neverUnwritten {
			fmt.Printf("FAIL %s: the database was never seen unwritable, or not writable again within %s\n", res.name, cfg.maxPhase)
		}
		for i, v := range res.violations {
			if i == 10 {
				fmt.Printf("FAIL %s: ... and %d more\n", res.name, len(res.violations)-10)
				break
			}
			fmt.Printf("FAIL %s: %s\n", res.name, v)
		}
	}
	for _, v := range global {
		fmt.Printf("FAIL %s\n", v)
	}
	if failed || len(global) > 0 {
		return errors.New("a guarantee did not hold (see above)")
	}
	fmt.Println("failover: every guarantee held: each 201 is on the new primary, each account got its email under one key, no 500, no client saw 409 email_taken for its own registration, regapi answers and LISTENs on the primary")
	return nil
}

// check fills res's counts and violations from its registrations, the database and the inbox.
func check(res *phaseResult, db *pgx.Conn, in *inbox) {
	var created []*registration
	for _, r := range res.registrations {
		for i, a := range r.attempts {
			switch {
			case a.status == http.StatusServiceUnavailable:
				res.s503++
			case a.status >= 500:
				res.s500++
				res.violations = append(res.violations, fmt.Sprintf("%s: attempt %d answered %d %s", r.email, i+1, a.status, a.code))
			}
		}
		switch {
		case r.final.status == http.StatusCreated:
			res.ok201++
			created = append(created, r)
			if r.final.replayed && len(r.attempts) > 1 {
				res.committed503++
			}
			if !res.writableAt.IsZero() && r.finalAt.After(res.writableAt) &&
				(res.first201 == 0 || r.finalAt.Sub(res.writableAt) < res.first201) {
				res.first201 = r.finalAt.Sub(res.writableAt)
			}
		case r.final.status == http.StatusConflict && r.final.code == "email_taken":
			res.violations = append(res.violations, fmt.Sprintf("%s: 409 email_taken for the client's own registration after %d attempts", r.email, len(r.attempts)))
		case r.final.err != nil:
			res.violations = append(res.violations, fmt.Sprintf("%s: no answer within the retry deadline: %v", r.email, r.final.err))
		default:
			res.violations = append(res.violations, fmt.Sprintf("%s: final answer %d %s, want 201", r.email, r.final.status, r.final.code))
		}
	}
	// Every 201 is in the database (the new primary: the URL asks for read-write).
	emails := make([]string, len(created))
	for i, r := range created {
		emails[i] = r.email
	}
	found := map[string]bool{}
	rows, err := db.Query(context.Background(), "SELECT email FROM users WHERE email = ANY($1)", emails)
	if err == nil {
		var e string
		_, err = pgx.ForEachRow(rows, []any{&e}, func() error { found[e] = true; return nil })
	}
	if err != nil {
		res.violations = append(res.violations, fmt.Sprintf("reading the accounts: %v", err))
		return
	}
	// Every account's email arrives, under one key; a key delivered twice is counted.
	deadline := time.Now().Add(20 * time.Second)
	for _, r := range created {
		if !found[r.email] {
			res.lost++
			res.violations = append(res.violations, fmt.Sprintf("%s: answered 201 but not in the database", r.email))
			continue
		}
		var got []delivery
		for {
			got = in.get(r.email)
			if len(got) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		keys := map[string]int{}
		for _, d := range got {
			keys[d.key]++
			if d.kind != "activation_code.created" {
				res.violations = append(res.violations, fmt.Sprintf("%s: an email of type %s", r.email, d.kind))
			}
		}
		switch {
		case len(got) == 0:
			res.undelivered++
			res.violations = append(res.violations, fmt.Sprintf("%s: no activation email within 20 s", r.email))
		case len(keys) > 1:
			res.violations = append(res.violations, fmt.Sprintf("%s: %d emails under %d keys, want one key", r.email, len(got), len(keys)))
		}
		res.duplicates += len(got) - len(keys)
	}
}

// globalChecks checks regapi after the faults: it answers, and its outbox listener holds a
// LISTEN session on the primary.
func globalChecks(cfg config, db *pgx.Conn) []string {
	var problems []string
	if err := waitReady(cfg.api, 5*time.Second); err != nil {
		problems = append(problems, "regapi after the faults: "+err.Error())
	}
	var listeners int
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		err = db.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'LISTEN %'`).Scan(&listeners)
		if (err == nil && listeners > 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var port int
	_ = db.QueryRow(context.Background(), "SELECT inet_server_port()").Scan(&port)
	switch {
	case err != nil:
		problems = append(problems, "pg_stat_activity on the primary: "+err.Error())
	case listeners == 0:
		problems = append(problems, fmt.Sprintf("no LISTEN session of regapi on the primary (port %d)", port))
	default:
		fmt.Printf("failover: regapi's outbox listener LISTENs on the primary (port %d)\n", port)
	}
	return problems
}

func printTable(results []*phaseResult) {
	fmt.Println()
	fmt.Println("| fault | DB writable again after | regapi's first 201 after that | 201 | 503 | 500 | lost 201s | undelivered | duplicate emails | 503 that committed anyway |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range results {
		writable, first := "never", "–"
		if !r.writableAt.IsZero() {
			writable = fmt.Sprintf("%.2f s", r.writableAt.Sub(r.faultAt).Seconds())
			first = fmt.Sprintf("%.2f s", r.first201.Seconds())
		}
		dup := strconv.Itoa(r.duplicates)
		if r.duplicates > 0 {
			dup += " (same key)"
		}
		fmt.Printf("| %s | %s | %s | %d | %d | %d | %d | %d | %s | %d |\n", r.name, writable, first,
			r.ok201, r.s503, r.s500, r.lost, r.undelivered, dup, r.committed503)
	}
	fmt.Println()
}

// --- the walkthrough ----------------------------------------------------------------------

// runWalkthrough registers an account, reads its code from the email and activates it.
func runWalkthrough(api string, in *inbox) error {
	email := fmt.Sprintf("walk-%d@example.com", time.Now().UnixNano())
	r := register(api, email, time.Now().Add(30*time.Second))
	if r.final.status != http.StatusCreated {
		return fmt.Errorf("register %s: %d %s %v", email, r.final.status, r.final.code, r.final.err)
	}
	fmt.Printf("walkthrough: register %s -> 201\n", email)
	var got []delivery
	for deadline := time.Now().Add(15 * time.Second); len(got) == 0; time.Sleep(100 * time.Millisecond) {
		if got = in.get(email); len(got) == 0 && time.Now().After(deadline) {
			return fmt.Errorf("no email to %s within 15 s", email)
		}
	}
	fmt.Printf("walkthrough: email %s with a code\n", got[0].kind)
	// register's password for email.
	a := post(api, "/v1/users/me/activate", newKey(), email+":failover password "+email, map[string]string{"code": got[0].code})
	if a.status != http.StatusOK || a.body["status"] != "active" {
		return fmt.Errorf("activate %s: %d %s %v %v", email, a.status, a.code, a.body, a.err)
	}
	fmt.Printf("walkthrough: activate -> 200, status active\n")
	fmt.Printf("walkthrough: register -> email -> activate passed (%d email(s), key %s)\n", len(got), got[0].key)
	return nil
}
