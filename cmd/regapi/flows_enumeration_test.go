package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestResetAnswersDoNotRevealAccounts checks that neither password reset endpoint tells a
// caller without the code whether an address holds an account: the full answers (status,
// headers but Date and X-Request-ID, body) are equal for a known and an unknown address, and
// so are the times they take.
//
// Timing: each endpoint is asked timingTries times for each address, the two interleaved (so
// that a burst of load on the machine falls on both alike) after a warm-up, and the medians
// must lie within half of the larger one, or within 15ms of each other. The median ignores the
// outliers a loaded machine produces. The absolute allowance is for the reset request, a few
// milliseconds of database work either way: for a known address it also issues a code (one
// more statement, a sealed email, and the dispatcher wakes up), which makes it slower by
// about 0.3ms on an idle machine, by 2 to 6ms under the race detector on a 2-core machine
// busy with the rest of the suite, and by 10ms (a third) at a load average of 20. A real leak
// is larger: an unknown address answered without the database would be a small fraction of
// the known one's time, and the confirmation hashes the new
// password at the contract's argon2id cost (about 25ms on such a machine, far more under the
// race detector) for a known and an unknown address alike, and skipping it for either would
// put the medians that far apart.
func TestResetAnswersDoNotRevealAccounts(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	env := baseEnv(t)
	env["ARGON2_MEMORY_KIB"], env["ARGON2_ITERATIONS"] = "19456", "2"
	// Every request for the known address issues a code (the most work it can cause), and its
	// live code survives every wrong try, however slow the machine, so that each try takes the
	// longest path.
	env["RESEND_COOLDOWN"], env["MAX_CODES_PER_DAY"], env["ACTIVATION_MAX_ATTEMPTS"] = "0s", "1000", "100"
	env["ACTIVATION_CODE_TTL"] = "1h"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	known, unknown := uniqueEmail("known"), uniqueEmail("unknown")
	a.register(t, known, "password-1234").want(t, http.StatusCreated, "")
	a.activate(t, known, "password-1234", a.waitEmail(t, known, "activation_code", 1).Code).want(t, http.StatusOK, "")

	request := func(email string) func() (response, time.Duration) {
		return func() (response, time.Duration) {
			return a.timed(t, http.MethodPost, "/v1/password-resets", fmt.Sprintf(`{"email":%q}`, email))
		}
	}
	sameAnswers(t, "POST /v1/password-resets", request(known), request(unknown))
	compareTimes(t, "POST /v1/password-resets", request(known), request(unknown))

	// Every reset code the known address was sent, the live one among them once its email is
	// out (earlier ones may have been dropped unsent, superseded): a code none of them is
	// wrong for sure.
	waitSent(t, db, known, "password_reset")
	var codes []string
	for _, e := range a.emails(known, "password_reset_code") {
		codes = append(codes, e.Code)
	}
	wrong := wrongCode(codes...)
	confirm := func(email string) func() (response, time.Duration) {
		return func() (response, time.Duration) {
			body := fmt.Sprintf(`{"email":%q,"code":%q,"password":"new-password-1234"}`, email, wrong)
			return a.timed(t, http.MethodPost, "/v1/password-resets/confirm", body)
		}
	}
	sameAnswers(t, "POST /v1/password-resets/confirm", confirm(known), confirm(unknown))
	compareTimes(t, "POST /v1/password-resets/confirm", confirm(known), confirm(unknown))
	// The known address's tries went against its live code: each was counted.
	if n := count(t, db, `SELECT c.attempts FROM codes c JOIN users u ON u.id = c.user_id
		WHERE u.email = $1 AND c.kind = 'password_reset'`, known); n != 1+3+timingTries {
		t.Fatalf("%d wrong tries counted against the known address's live code, want %d", n, 1+3+timingTries)
	}
	a.me(t, known, "password-1234", http.StatusOK)

	// An account without a live reset code answers as the others do.
	other := uniqueEmail("no-reset")
	a.register(t, other, "password-1234").want(t, http.StatusCreated, "")
	sameAnswers(t, "POST /v1/password-resets/confirm without a live code", confirm(other), confirm(unknown))
}

const timingTries = 21

// waitSent waits until the live code of kind of the account at email has been sent.
func waitSent(t *testing.T, db *pgxpool.Pool, email, kind string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count(t, db, `SELECT count(*) FROM codes c JOIN users u ON u.id = c.user_id
		WHERE u.email = $1 AND c.kind = $2 AND c.sent_at IS NOT NULL`, email, kind) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the %s code of %s was not sent within 10s", kind, email)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timed sends a JSON request and returns the answer and how long the exchange took, from
// sending the request to reading the whole body. The exchange is checked against the OpenAPI
// document afterwards, outside the time.
func (a *app) timed(t *testing.T, method, path, body string) (response, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(strings.NewReader(body))
	checkExchange(t, req, []byte(body), resp, raw)
	return response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}, took
}

// sameAnswers fails t unless known and unknown answer alike: status, body, and every header
// but the ones that differ between any two requests.
func sameAnswers(t *testing.T, what string, known, unknown func() (response, time.Duration)) {
	t.Helper()
	k, _ := known()
	u, _ := unknown()
	if k.status != u.status || k.raw != u.raw {
		t.Fatalf("%s: known address %d %s, unknown %d %s", what, k.status, k.raw, u.status, u.raw)
	}
	strip := func(h http.Header) http.Header {
		h = h.Clone()
		h.Del("Date")
		h.Del("X-Request-ID")
		return h
	}
	kh, uh := strip(k.header), strip(u.header)
	for _, name := range slices.Sorted(maps.Keys(kh)) {
		if !slices.Equal(kh[name], uh[name]) {
			t.Errorf("%s: header %s is %q for a known address, %q for an unknown one", what, name, kh[name], uh[name])
		}
	}
	for name := range uh {
		if _, ok := kh[name]; !ok {
			t.Errorf("%s: header %s only for an unknown address", what, name)
		}
	}
}

// compareTimes measures known and unknown timingTries times each, interleaved, and fails t
// unless the medians are within the bound TestResetAnswersDoNotRevealAccounts states.
func compareTimes(t *testing.T, what string, known, unknown func() (response, time.Duration)) {
	t.Helper()
	for range 3 { // warm-up: connections, caches, the hasher's memory
		known()
		unknown()
	}
	var k, u []time.Duration
	for i := range timingTries {
		first, second, fs, ss := known, unknown, &k, &u
		if i%2 == 1 {
			first, second, fs, ss = unknown, known, &u, &k
		}
		_, d := first()
		*fs = append(*fs, d)
		_, d = second()
		*ss = append(*ss, d)
	}
	mk, mu := median(k), median(u)
	diff, larger := (mk - mu).Abs(), max(mk, mu)
	t.Logf("%s: median over %d tries: known address %v, unknown %v (difference %.1f%%)",
		what, timingTries, mk, mu, 100*float64(diff)/float64(larger))
	if diff > larger/2 && diff > 15*time.Millisecond {
		t.Errorf("%s: medians %v (known) and %v (unknown) differ by more than half and 15ms", what, mk, mu)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
