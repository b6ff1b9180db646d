package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://app.example.com":      "https://app.example.com",
		"HTTPS://App.Example.COM":      "https://app.example.com",
		"https://app.example.com:443":  "https://app.example.com",
		"http://localhost:80":          "http://localhost",
		"http://localhost:8081":        "http://localhost:8081",
		"http://127.0.0.1:8081":        "http://127.0.0.1:8081",
		"http://[::1]:8081":            "http://[::1]:8081",
		"https://app.example.com:8443": "https://app.example.com:8443",
	}
	for in, want := range good {
		if got, err := ParseOrigin(in); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"*", "https://*.example.com", "null", "app.example.com", "//app.example.com",
		"https://app.example.com/", "https://app.example.com/signup", "https://app.example.com?x",
		"https://app.example.com#", "https://user@app.example.com", "ftp://app.example.com",
		"https://", "https://app.example.com:", "https://app.example.com:0", "https://app.example.com:99999",
		"https://app.example.com:x", "mailto:a@example.com",
	} {
		if got, err := ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) = %q, want an error", in, got)
		}
	}
}

const testOrigin = "https://app.example.com"

func newCORSServer(origins ...string) http.Handler {
	return NewServer(slog.New(slog.DiscardHandler), &stubAccounts{}, stubPinger{}, Limits{}, prometheus.NewRegistry(), AllowOrigins(origins...))
}

func preflight(path, origin, method string) *http.Request {
	r := jsonRequest(http.MethodOptions, path, "")
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	return r
}

func TestPreflightFromAllowedOrigin(t *testing.T) {
	t.Parallel()
	s := &testServer{handler: newCORSServer(testOrigin, "http://localhost:8081")}
	for path, methods := range map[string]string{
		"/v1/users":                    "POST",
		"/v1/users/me":                 "DELETE, GET, HEAD",
		"/v1/users/me/activate":        "POST",
		"/v1/users/me/activation-code": "POST",
		"/v1/users/me/password":        "PUT",
		"/v1/users/me/email":           "POST",
		"/v1/users/me/email/confirm":   "POST",
		"/v1/password-resets":          "POST",
		"/v1/password-resets/confirm":  "POST",
		"/openapi.yaml":                "GET, HEAD",
	} {
		resp := s.do(preflight(path, testOrigin, "POST"))
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight %s: status %d", path, resp.StatusCode)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":      testOrigin,
			"Access-Control-Allow-Methods":     methods,
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, Idempotency-Key",
			"Access-Control-Max-Age":           corsMaxAge,
			"Access-Control-Expose-Headers":    "Location, Retry-After, Idempotent-Replayed",
			"Vary":                             "Origin",
			"Access-Control-Allow-Credentials": "",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("preflight %s: %s = %q, want %q", path, name, got, want)
			}
		}
	}
	// An unknown path is as unknown to a preflight as to any request.
	resp := s.do(preflight("/v1/nope", testOrigin, "POST"))
	readProblem(t, resp, http.StatusNotFound, "not_found")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != testOrigin {
		t.Errorf("404: Access-Control-Allow-Origin = %q", got)
	}
}

func TestEveryAnswerToAnAllowedOriginNamesIt(t *testing.T) {
	t.Parallel()
	s := &testServer{handler: newCORSServer(testOrigin)}
	for _, r := range []*http.Request{
		jsonRequest("POST", "/v1/users", `{"email":"new@example.com","password":"correct horse"}`),
		jsonRequest("POST", "/v1/users", `{}`),
		jsonRequest("GET", "/v1/users/me", ""),
		authed(jsonRequest("GET", "/v1/users/me", "")),
		jsonRequest("PATCH", "/v1/users/me", ""),
		jsonRequest("OPTIONS", "/v1/users/me", ""), // not a preflight: no Access-Control-Request-Method
		jsonRequest("GET", "/healthz", ""),
	} {
		r.Header.Set("Origin", testOrigin)
		resp := s.do(r)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != testOrigin {
			t.Errorf("%s %s (%d): Access-Control-Allow-Origin = %q", r.Method, r.URL, resp.StatusCode, got)
		}
		if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Location") || !strings.Contains(got, "Retry-After") {
			t.Errorf("%s %s: Access-Control-Expose-Headers = %q", r.Method, r.URL, got)
		}
		if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
			t.Errorf("%s %s: Vary = %q", r.Method, r.URL, got)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", r.Method, r.URL)
		}
	}
}

func TestOtherOriginsGetNoCORS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		origins []string
	}{
		{"unlisted origin", []string{testOrigin}, []string{"https://evil.example.com", "null", testOrigin + ":8443", "http://app.example.com"}},
		{"no origins at all", nil, []string{testOrigin}},
	}
	for _, tt := range tests {
		s := &testServer{handler: newCORSServer(tt.allowed...)}
		for _, origin := range tt.origins {
			resp := s.do(preflight("/v1/users", origin, "POST"))
			readProblem(t, resp, http.StatusForbidden, "origin_not_allowed")
			get := jsonRequest("GET", "/v1/users/me", "")
			get.Header.Set("Origin", origin)
			for _, resp := range []*http.Response{resp, s.do(get)} {
				for key := range resp.Header {
					if strings.HasPrefix(key, "Access-Control-") {
						t.Errorf("%s, %s: %s: %q", tt.name, origin, key, resp.Header.Get(key))
					}
				}
				// Caches must keep answers to different origins apart once any origin is allowed.
				if vary := resp.Header.Get("Vary"); (len(tt.allowed) > 0) != (vary == "Origin") {
					t.Errorf("%s, %s: Vary = %q", tt.name, origin, vary)
				}
			}
		}
	}
}
