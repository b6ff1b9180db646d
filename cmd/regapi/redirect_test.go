package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProviderRedirectsAreNotFollowed: a Mailpit or webhook endpoint that answers with a
// redirect does not get the email sent elsewhere; the attempt fails, is logged with the
// redirect, and the email stays pending for a retry.
func TestProviderRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		provider string
		status   int
	}{{"mailpit", 307}, {"mailpit", 302}, {"webhook", 308}, {"webhook", 301}} {
		t.Run(tt.provider+"-"+http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			var elsewhere atomic.Int32
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				elsewhere.Add(1)
				_, _ = w.Write([]byte(`{"ID":"taken elsewhere"}`))
			}))
			t.Cleanup(other.Close)
			moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, tt.status)
			}))
			t.Cleanup(moved.Close)
			env := baseEnv(t)
			env["MAIL_PROVIDER"], env["MAILPIT_URL"] = tt.provider, moved.URL
			env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = moved.URL+"/hooks/regapi", testWebhookSecret
			env["LOG_LEVEL"] = "info"
			a := startApp(t, env)
			a.register(t, uniqueEmail("redirect"), "password-1234").want(t, http.StatusCreated, "")

			waitUntil(t, 30*time.Second, func() (bool, string) {
				return strings.Contains(a.stdout.String(), "never followed"), "no failed attempt logged"
			})
			db := openDB(t, env["DATABASE_URL"])
			if state := outboxState(t, db); state["pending"] != 1 {
				t.Errorf("outbox %v, want the email pending", state)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the host the redirect named received %d requests", n)
			}
		})
	}
}
