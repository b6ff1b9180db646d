package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration/registrationtest"
)

func TestLimiterRefills(t *testing.T) {
	t.Parallel()
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(2, time.Minute, clock.Now) // one token every 30 s
	ip := netip.MustParseAddr("192.0.2.1")
	steps := []struct {
		advance time.Duration
		allowed bool
		retry   string
	}{
		{0, true, ""},
		{0, true, ""},
		{0, false, "30"},
		{10 * time.Second, false, "20"},
		{20 * time.Second, true, ""},
		{0, false, "30"},
		{time.Hour, true, ""}, // refilled to capacity, no more
		{0, true, ""},
		{0, false, "30"},
	}
	for i, step := range steps {
		clock.Advance(step.advance)
		err := l.allow("", ip)
		if allowed := err == nil; allowed != step.allowed {
			t.Fatalf("step %d: allowed = %v, want %v", i, allowed, step.allowed)
		}
		if err == nil {
			continue
		}
		if code := errorCode(err); code != "rate_limited" {
			t.Fatalf("step %d: code = %s, want rate_limited", i, code)
		}
		rec := httptest.NewRecorder()
		respondError(rec, httptest.NewRequest("GET", "/", nil), err)
		if got := rec.Header().Get("Retry-After"); got != step.retry {
			t.Fatalf("step %d: Retry-After = %s, want %s", i, got, step.retry)
		}
	}
}

func TestLimiterGiveBackCapsAtCapacity(t *testing.T) {
	t.Parallel()
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(1, time.Minute, clock.Now)
	ip := netip.MustParseAddr("2001:db8::1")
	settle, err := l.hold("", ip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.hold("", ip); err == nil {
		t.Fatal("a second hold was allowed while the only token was held")
	}
	settle(false)
	settle(false) // a second settling changes nothing
	if err := l.allow("", ip); err != nil {
		t.Fatalf("first take: %v", err)
	}
	if err := l.allow("", ip); err == nil {
		t.Fatal("second take allowed: giving back added more than the capacity")
	}
}

func TestLimiterKeysIPv6ByPrefix(t *testing.T) {
	t.Parallel()
	l := newKeyedLimiter(1, time.Minute, time.Now)
	if err := l.allow("", netip.MustParseAddr("2001:db8:1:2::1")); err != nil {
		t.Fatal(err)
	}
	if err := l.allow("", netip.MustParseAddr("2001:db8:1:2::ffff")); err == nil {
		t.Fatal("another address in the same /64 was allowed")
	}
	if err := l.allow("", netip.MustParseAddr("2001:db8:1:3::1")); err != nil {
		t.Fatalf("another /64 was refused: %v", err)
	}
}

func TestLimiterEvictsIdleBuckets(t *testing.T) {
	t.Parallel()
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(60, time.Minute, clock.Now)
	for i := range 50 {
		_ = l.allow("", netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if n := l.size(); n != 50 {
		t.Fatalf("buckets = %d, want 50", n)
	}
	clock.Advance(2 * time.Minute)
	_ = l.allow("", netip.MustParseAddr("203.0.113.1"))
	if n := l.size(); n != 1 {
		t.Fatalf("after two idle minutes, buckets = %d, want 1", n)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.5:4321", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4321", []string{"198.51.100.9"}, "203.0.113.5"},
		{"through a trusted proxy", "10.0.0.1:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"right-most untrusted entry", "10.0.0.1:80", []string{"1.1.1.1, 198.51.100.9, 10.0.0.2"}, "198.51.100.9"},
		{"several headers in order", "10.0.0.1:80", []string{"1.1.1.1", "198.51.100.9"}, "198.51.100.9"},
		{"entry with a port", "10.0.0.1:80", []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"IPv6 entry", "[fd00::1]:80", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"trusted proxy without header", "10.0.0.1:80", nil, "10.0.0.1"},
		{"garbage stops the walk", "10.0.0.1:80", []string{"198.51.100.9, garbage"}, "10.0.0.1"},
		{"all entries trusted", "10.0.0.1:80", []string{"10.9.9.9, 10.0.0.2"}, "10.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, trusted).String(); got != tt.want {
				t.Fatalf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{RatePerMinute: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	register := func(remote, xff string) *http.Response {
		r := jsonRequest("POST", "/v1/users", `{"email":"a@example.com","password":"12345678"}`)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return s.do(r)
	}
	steps := []struct {
		name, remote, xff string
		status            int
	}{
		{"first", "203.0.113.5:1", "", 201},
		{"second", "203.0.113.5:2", "", 201},
		{"third is limited", "203.0.113.5:3", "", 429},
		{"a spoofed header does not help", "203.0.113.5:4", "198.51.100.1", 429},
		{"another client is not limited", "203.0.113.6:1", "", 201},
		{"behind the proxy, one client", "10.0.0.1:1", "198.51.100.7", 201},
		{"behind the proxy, same client", "10.0.0.2:1", "198.51.100.7, 10.0.0.1", 201},
		{"behind the proxy, limited", "10.0.0.1:2", "198.51.100.7", 429},
		{"behind the proxy, another client", "10.0.0.1:3", "198.51.100.8", 201},
	}
	for _, step := range steps {
		resp := register(step.remote, step.xff)
		if step.status != http.StatusTooManyRequests {
			readJSON(t, resp, step.status)
			continue
		}
		readProblem(t, resp, step.status, "rate_limited")
		if got := resp.Header.Get("Retry-After"); got != "30" && got != "29" {
			t.Fatalf("%s: Retry-After = %q, want about 30", step.name, got)
		}
	}
}

func TestFailedAuthRateLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{RatePerMinute: 2})
	// Successes spend nothing.
	for range 5 {
		readJSON(t, me(s, testPassword), http.StatusOK)
	}
	readProblem(t, me(s, "wrong"), http.StatusUnauthorized, "unauthorized")
	readProblem(t, s.do(jsonRequest("GET", "/v1/users/me", "")), http.StatusUnauthorized, "unauthorized")
	before, _ := s.accounts.calls()
	// Out of attempts: refused before the password is checked, even the right one.
	readProblem(t, me(s, testPassword), http.StatusTooManyRequests, "rate_limited")
	if after, _ := s.accounts.calls(); after != before {
		t.Fatalf("Authenticate was called %d more times while limited", after-before)
	}
	// The registration bucket is a separate one.
	readJSON(t, s.do(jsonRequest("POST", "/v1/users", `{}`)), http.StatusCreated)
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{RatePerMinute: 0})
	for range 20 {
		readJSON(t, s.do(jsonRequest("POST", "/v1/users", `{}`)), http.StatusCreated)
		readProblem(t, me(s, "wrong"), http.StatusUnauthorized, "unauthorized")
	}
}

// me asks for the user with testEmail's credentials and password.
func me(s *testServer, password string) *http.Response {
	r := jsonRequest("GET", "/v1/users/me", "")
	r.SetBasicAuth(testEmail, password)
	return s.do(r)
}
