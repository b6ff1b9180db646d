package httpapi

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

func TestAccountLimiterRefills(t *testing.T) {
	t.Parallel()
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(3, accountFailureWindow, clock.Now)
	const account = "alice@example.com"
	ip := netip.MustParseAddr("203.0.113.9")
	for i := range 3 {
		if err := l.allow(account, ip); err != nil {
			t.Fatalf("take %d: %v", i+1, err)
		}
	}
	err := l.allow(account, ip)
	after, _ := registration.RetryAfter(err)
	// Three tokens over 15 minutes: one every 5 minutes.
	if err == nil || errorCode(err) != "rate_limited" || after != 5*time.Minute {
		t.Fatalf("fourth take = %v (retry after %s), want rate_limited after 5m", err, after)
	}
	clock.Advance(5 * time.Minute)
	if err := l.allow(account, ip); err != nil {
		t.Fatalf("take after 5 minutes: %v", err)
	}
	if err := l.allow(account, ip); err == nil {
		t.Fatal("a second token came back after 5 minutes")
	}
	// Another account from the same client has its own bucket.
	if err := l.allow("bob@example.com", ip); err != nil {
		t.Fatalf("another account: %v", err)
	}
}

func TestAccountLimiterNotAnAccount(t *testing.T) {
	t.Parallel()
	// What cannot name an account is left to the per-IP limit: it fails without a lookup.
	s := newTestServer(t, nil, nil, Limits{FailuresPerAccount: 1})
	for _, email := range []string{"", "no-at-sign", "\u212aate@example.com", "alice\r\n@example.com"} {
		for range 3 {
			r := jsonRequest("GET", "/v1/users/me", "")
			r.SetBasicAuth(email, "guess")
			readProblem(t, s.do(r), http.StatusUnauthorized, "unauthorized")
		}
	}
}

func TestFailedAuthPerAccountCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{
		FailuresPerAccount: 3,
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	try := func(remote, xff, email, password string) *http.Response {
		r := jsonRequest("GET", "/v1/users/me", "")
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		r.SetBasicAuth(email, password)
		return s.do(r)
	}
	const attacker, owner = "203.0.113.7:4000", "198.51.100.20:5000"

	// The owner's successes spend nothing.
	for range 5 {
		readJSON(t, try(owner, "", testEmail, testPassword), http.StatusOK)
	}
	for range 3 {
		readProblem(t, try(attacker, "", testEmail, "guess"), http.StatusUnauthorized, "unauthorized")
	}
	before, _ := s.accounts.calls()
	steps := []struct {
		name, remote, xff, email, password string
		status                             int
	}{
		{"attacker is throttled", attacker, "", testEmail, "guess", 429},
		{"even with the right password", attacker, "", testEmail, testPassword, 429},
		{"the address spelt differently is the same account", attacker, "", "  ALICE@example.COM", "guess", 429},
		{"a spoofed X-Forwarded-For does not help", attacker, "192.0.2.1", testEmail, "guess", 429},
		{"the owner elsewhere still logs in", owner, "", testEmail, testPassword, 200},
		{"the owner may still mistype", owner, "", testEmail, "typo", 401},
		{"the attacker may try another account", attacker, "", "bob@example.com", "guess", 401},
	}
	for _, st := range steps {
		resp := try(st.remote, st.xff, st.email, st.password)
		switch st.status {
		case 200:
			readJSON(t, resp, 200)
		case 401:
			readProblem(t, resp, 401, "unauthorized")
		default:
			readProblem(t, resp, 429, "rate_limited")
			if got := resp.Header.Get("Retry-After"); got != "300" && got != "299" {
				t.Fatalf("%s: Retry-After = %q, want about 300", st.name, got)
			}
		}
	}
	// Throttled attempts were refused before the password was checked.
	if after, _ := s.accounts.calls(); after-before != 3 {
		t.Fatalf("Authenticate called %d times for the steps, want 3 (the owner's and bob's)", after-before)
	}

	// Behind a trusted proxy each forwarded client has its own allowance.
	const proxy = "10.0.0.1:6000"
	for range 3 {
		readProblem(t, try(proxy, "192.0.2.50", testEmail, "guess"), http.StatusUnauthorized, "unauthorized")
	}
	readProblem(t, try(proxy, "192.0.2.50", testEmail, "guess"), http.StatusTooManyRequests, "rate_limited")
	readJSON(t, try(proxy, "192.0.2.60", testEmail, testPassword), http.StatusOK)
}

func TestFailedAuthPerAccountOff(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	for range 20 {
		readProblem(t, me(s, "wrong"), http.StatusUnauthorized, "unauthorized")
	}
	readJSON(t, me(s, testPassword), http.StatusOK)
}

func TestAccountLimiterServiceErrorGivesBack(t *testing.T) {
	t.Parallel()
	// An attempt the service could not judge (database down) is no failure of the client.
	s := newTestServer(t, &stubAccounts{authErr: registration.ErrUnavailable}, nil, Limits{FailuresPerAccount: 1})
	for range 3 {
		resp := me(s, "whatever")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
	}
}
