package main

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// uniqueEmail returns an address no other test uses, as tests may share one Mailpit.
func uniqueEmail(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:10]) + "@example.com"
}

// mailpitApp starts regapi sending through a real Mailpit, and returns both.
func mailpitApp(t *testing.T, overrides map[string]string) (*app, string) {
	t.Helper()
	mp := mailpittest.URL(t)
	env := baseEnv(t)
	env["MAIL_PROVIDER"] = "mailpit"
	env["MAILPIT_URL"] = mp
	for k, v := range overrides {
		env[k] = v
	}
	return startApp(t, env), mp
}

func TestRegisterActivateThroughMailpit(t *testing.T) {
	t.Parallel()
	a, mp := mailpitApp(t, nil)
	email, pass := uniqueEmail("alice"), "correct horse battery"

	reg := a.register(t, "  "+strings.ToUpper(email)+" ", pass)
	reg.want(t, http.StatusCreated, "")
	if reg.body["status"] != "pending" || reg.body["email"] != email || reg.body["activated_at"] != nil {
		t.Fatalf("registered user: %s", reg.raw)
	}
	if loc := reg.header.Get("Location"); loc != "/v1/users/me" {
		t.Fatalf("Location %q", loc)
	}

	code := mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)
	msgs, err := mailpittest.Messages(t.Context(), mp, email)
	if err != nil || len(msgs) != 1 || msgs[0].Subject == "" || !strings.Contains(msgs[0].Text, "minute") {
		t.Fatalf("email: %+v, %v", msgs, err)
	}

	me := a.do(t, http.MethodGet, "/v1/users/me", "", email, pass)
	me.want(t, http.StatusOK, "")
	if me.body["status"] != "pending" || me.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("me before activation: %s %v", me.raw, me.header)
	}

	wrong := "0000"
	if code == wrong {
		wrong = "0001"
	}
	a.activate(t, email, pass, wrong).want(t, http.StatusUnprocessableEntity, "invalid_code")
	a.activate(t, email, pass, "12a4").want(t, http.StatusUnprocessableEntity, "validation_failed")
	a.activate(t, email, pass+"x", code).want(t, http.StatusUnauthorized, "unauthorized")

	act := a.activate(t, strings.ToUpper(email), pass, code)
	act.want(t, http.StatusOK, "")
	if act.body["status"] != "active" || act.body["activated_at"] == nil {
		t.Fatalf("activated user: %s", act.raw)
	}
	a.activate(t, email, pass, code).want(t, http.StatusConflict, "already_active")
	a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", email, pass).want(t, http.StatusConflict, "already_active")
	a.register(t, email, "another password").want(t, http.StatusConflict, "email_taken")

	me = a.do(t, http.MethodGet, "/v1/users/me", "", email, pass)
	if me.body["status"] != "active" || me.body["id"] != reg.body["id"] {
		t.Fatalf("me after activation: %s", me.raw)
	}
}

func TestCodeExpiresAndResendReplacesIt(t *testing.T) {
	t.Parallel()
	// Codes live 5 s of real time: long enough that a code is still valid while the test
	// reads it from Mailpit on two loaded cores (with 1 s, a resent code could expire before
	// the test used it), short enough to wait out once.
	const ttl = 5 * time.Second
	a, mp := mailpitApp(t, map[string]string{"ACTIVATION_CODE_TTL": ttl.String(), "RESEND_COOLDOWN": "1s"})
	email, pass := uniqueEmail("bob"), "password-1234"
	a.register(t, email, pass).want(t, http.StatusCreated, "")
	first := mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)

	a.register(t, email, pass).want(t, http.StatusConflict, "email_taken") // code still valid
	// The code's lifetime starts when the service records its email as handed to the
	// provider, a moment after Mailpit shows it.
	waitExpired(t, openDB(t, a.env["DATABASE_URL"]), email, "activation", ttl)
	a.activate(t, email, pass, first).want(t, http.StatusGone, "code_expired")

	resend := a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", email, pass)
	resend.want(t, http.StatusAccepted, "")
	if resend.body["expires_in_seconds"] != ttl.Seconds() {
		t.Fatalf("resend body %s", resend.raw)
	}
	cool := a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", email, pass)
	cool.want(t, http.StatusTooManyRequests, "resend_cooldown")
	if cool.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", cool.header.Get("Retry-After"))
	}
	second := mailpittest.WaitForCode(t, mp, email, 2, 10*time.Second)
	if second != first {
		a.activate(t, email, pass, first).want(t, http.StatusUnprocessableEntity, "invalid_code")
	}
	a.activate(t, email, pass, second).want(t, http.StatusOK, "")
}

func TestExpiredPendingAccountCanBeRegisteredAgain(t *testing.T) {
	t.Parallel()
	a, mp := mailpitApp(t, map[string]string{"ACTIVATION_CODE_TTL": "1s"})
	email := uniqueEmail("carol")
	old := a.register(t, email, "first password")
	old.want(t, http.StatusCreated, "")
	mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)
	// The code's second starts when the service records its email as handed to the provider,
	// a moment after Mailpit shows it (later still on a loaded machine).
	waitExpired(t, openDB(t, a.env["DATABASE_URL"]), email, "activation", time.Second)

	fresh := a.register(t, email, "second password")
	fresh.want(t, http.StatusCreated, "")
	if fresh.body["id"] == old.body["id"] {
		t.Fatal("re-registration kept the old account's id")
	}
	code := mailpittest.WaitForCode(t, mp, email, 2, 10*time.Second)
	a.activate(t, email, "first password", code).want(t, http.StatusUnauthorized, "unauthorized")
	a.activate(t, email, "second password", code).want(t, http.StatusOK, "")
}

func TestWrongCodesBurnTheCode(t *testing.T) {
	t.Parallel()
	a, mp := mailpitApp(t, map[string]string{"ACTIVATION_MAX_ATTEMPTS": "3"})
	email, pass := uniqueEmail("dave"), "password-1234"
	a.register(t, email, pass).want(t, http.StatusCreated, "")
	code := mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)
	wrong := "0000"
	if code == wrong {
		wrong = "0001"
	}
	for range 3 {
		a.activate(t, email, pass, wrong).want(t, http.StatusUnprocessableEntity, "invalid_code")
	}
	a.activate(t, email, pass, code).want(t, http.StatusTooManyRequests, "too_many_attempts")
}
