package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAuthFailuresPerAccountSetting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		want  int
		ok    bool
	}{{"", 10, true}, {"0", 0, true}, {"25", 25, true}, {"-1", 0, false}, {"many", 0, false}} {
		cfg, err := loadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi", "AUTH_FAILURES_PER_ACCOUNT": tt.value}))
		if (err == nil) != tt.ok || (tt.ok && cfg.AuthFailuresPerAccount != tt.want) {
			t.Errorf("AUTH_FAILURES_PER_ACCOUNT=%q: %d, %v", tt.value, cfg.AuthFailuresPerAccount, err)
		}
	}
}

// TestPerIPLimits checks the per-client-IP token buckets as configured through the
// environment: registrations and failed Basic Auth each get RATE_LIMIT_PER_MINUTE, then 429
// rate_limited with Retry-After; X-Forwarded-For counts only from TRUSTED_PROXIES.
func TestPerIPLimits(t *testing.T) {
	t.Parallel()
	register := func(a *app, n int, forwardedFor string) response {
		t.Helper()
		a.header = http.Header{}
		if forwardedFor != "" {
			a.header.Set("X-Forwarded-For", forwardedFor)
		}
		return a.register(t, fmt.Sprintf("ip%d@example.com", n), "password-1234")
	}
	limited := func(t *testing.T, r response) {
		t.Helper()
		r.want(t, http.StatusTooManyRequests, "rate_limited")
		// Three a minute: the next token comes in 20 seconds.
		if got := r.header.Get("Retry-After"); got != "20" && got != "19" {
			t.Fatalf("Retry-After = %q, want 20", got)
		}
	}

	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["RATE_LIMIT_PER_MINUTE"] = "3"
		a := startApp(t, env)
		for i := range 3 {
			// A client's made-up X-Forwarded-For does not give it new buckets.
			register(a, i, fmt.Sprintf("198.51.100.%d", i)).want(t, http.StatusCreated, "")
		}
		limited(t, register(a, 3, "198.51.100.99"))
		a.header = nil
		for range 3 {
			a.do(t, http.MethodGet, "/v1/users/me", "", "ip0@example.com", "wrong").want(t, http.StatusUnauthorized, "unauthorized")
		}
		limited(t, a.do(t, http.MethodGet, "/v1/users/me", "", "ip0@example.com", "password-1234"))
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["RATE_LIMIT_PER_MINUTE"], env["TRUSTED_PROXIES"] = "3", "127.0.0.0/8"
		a := startApp(t, env)
		for i := range 3 {
			register(a, i, "198.51.100.7").want(t, http.StatusCreated, "")
		}
		limited(t, register(a, 3, "198.51.100.7"))
		// Another client behind the same proxy has a bucket of its own; an entry the client
		// put left of the proxy's is not believed.
		register(a, 4, "203.0.113.50, 198.51.100.8").want(t, http.StatusCreated, "")
		limited(t, register(a, 5, "203.0.113.51, 198.51.100.7"))
	})
}

// TestSecurityHeaders checks the headers every answer carries: nosniff everywhere, no-store
// on the account endpoints (whatever the outcome), a Content-Security-Policy on /docs, and no
// banner naming the server or its version.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	a.register(t, "headers@example.com", "password-1234").want(t, http.StatusCreated, "")
	requests := []struct {
		method, path, body, user, pass string
		status                         int
		account                        bool
	}{
		{"POST", "/v1/users", `{"email":"headers2@example.com","password":"password-1234"}`, "", "", 201, true},
		{"POST", "/v1/users", `{"email":"bad","password":"password-1234"}`, "", "", 422, true},
		{"GET", "/v1/users/me", "", "headers@example.com", "password-1234", 200, true},
		{"GET", "/v1/users/me", "", "headers@example.com", "wrong", 401, true},
		{"POST", "/v1/users/me/activate", `{"code":"12"}`, "headers@example.com", "password-1234", 422, true},
		{"POST", "/v1/users/me/activation-code", "", "headers@example.com", "password-1234", 429, true},
		{"GET", "/healthz", "", "", "", 200, false},
		{"GET", "/readyz", "", "", "", 200, false},
		{"GET", "/openapi.yaml", "", "", "", 200, false},
		{"GET", "/docs", "", "", "", 200, false},
		{"GET", "/nowhere", "", "", "", 404, false},
		{"DELETE", "/v1/users", "", "", "", 405, false},
	}
	for _, r := range requests {
		got := a.do(t, r.method, r.path, r.body, r.user, r.pass)
		what := r.method + " " + r.path
		if got.status != r.status {
			t.Errorf("%s: status %d, want %d", what, got.status, r.status)
		}
		h := got.header
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", what, h.Get("X-Content-Type-Options"))
		}
		if r.account && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, h.Get("Cache-Control"))
		}
		for _, banner := range []string{"Server", "X-Powered-By", "X-Version", "Via"} {
			if v := h.Get(banner); v != "" {
				t.Errorf("%s: %s: %s", what, banner, v)
			}
		}
		if r.path == "/docs" {
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("/docs: Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
				t.Errorf("/docs: Content-Security-Policy %q allows inline or eval'd script", csp)
			}
		}
	}
}
