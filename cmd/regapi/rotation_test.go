package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Rotating CODE_SECRET under traffic loses nothing: a process with the new secret current and
// the old one in CODE_SECRET_PREVIOUS takes over from one with the old secret alone. Codes
// the old process issued still activate, emails it sealed but could not send while the
// provider was down are delivered by the new one, and what the new one issues works too.
func TestRotatingTheCodeSecretLosesNoCodeAndNoEmail(t *testing.T) {
	t.Parallel()
	const newSecret = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
	var down atomic.Bool
	f := newFakeProvider(t, func(string, int, *http.Request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"] = "mailpit", f.URL
	// Codes must outlive the provider's outage below, which the test does not time.
	env["ACTIVATION_CODE_TTL"] = "10m"
	old, stopOld := runApp(t, env)
	emails := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("rot%02d@example.com", i))
		}
		return out
	}
	for _, e := range emails(0, 5) { // delivered under the old secret
		old.register(t, e, "password-1234").want(t, http.StatusCreated, "")
	}
	f.waitAccepted(t, 5, 30*time.Second)
	down.Store(true)
	for _, e := range emails(5, 10) { // sealed under the old secret, stuck while it is down
		old.register(t, e, "password-1234").want(t, http.StatusCreated, "")
	}

	rotated := baseEnv(t)
	rotated["DATABASE_URL"], rotated["MAIL_PROVIDER"], rotated["MAILPIT_URL"] = env["DATABASE_URL"], "mailpit", f.URL
	rotated["ACTIVATION_CODE_TTL"] = "10m"
	rotated["CODE_SECRET"], rotated["CODE_SECRET_PREVIOUS"] = newSecret, testSecret
	b := startApp(t, rotated)
	if err := stopOld(); err != nil {
		t.Fatal(err)
	}
	for _, e := range emails(10, 15) { // issued under the new secret
		b.register(t, e, "password-1234").want(t, http.StatusCreated, "")
	}
	down.Store(false)
	f.waitAccepted(t, 15, 30*time.Second)
	for _, e := range emails(0, 15) {
		code := f.codeOf(e, 0)
		if code == "" {
			t.Fatalf("no email accepted for %s", e)
		}
		b.activate(t, e, "password-1234", code).want(t, http.StatusOK, "")
	}
	if strings.Contains(b.stdout.String(), `"level":"ERROR"`) {
		t.Fatalf("the rotated process logged an error:\n%s", b.stdout.String())
	}
}
