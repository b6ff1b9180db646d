package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEmailChangeAnswers walks every answer of POST /v1/users/me/email and
// POST /v1/users/me/email/confirm.
func TestEmailChangeAnswers(t *testing.T) {
	t.Parallel()
	const pass = "password-1234"
	t.Run("request", func(t *testing.T) {
		t.Parallel()
		a := startApp(t, baseEnv(t))
		from, active, pending, to := uniqueEmail("from"), uniqueEmail("active"), uniqueEmail("pending"), uniqueEmail("to")
		a.signUp(t, from, pass)
		a.signUp(t, active, pass)
		a.register(t, pending, pass).want(t, http.StatusCreated, "")

		a.requestEmailChange(t, pending, pass, to).want(t, http.StatusConflict, "account_pending")
		for _, bad := range []string{"", "not an address", from, " " + strings.ToUpper(from) + " "} {
			a.requestEmailChange(t, from, pass, bad).want(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		a.requestEmailChange(t, from, pass, active).want(t, http.StatusConflict, "email_taken")
		a.requestEmailChange(t, from, pass, pending).want(t, http.StatusConflict, "email_taken")
		r := a.requestEmailChange(t, from, pass, to)
		r.want(t, http.StatusAccepted, "")
		if r.body["expires_in_seconds"] != float64(60) {
			t.Fatalf("202 body %s", r.raw)
		}
		a.waitEmail(t, to, "email_change_code", 1)
		// Nothing changes until the code comes back.
		a.me(t, from, pass, http.StatusOK)
		a.me(t, to, pass, http.StatusUnauthorized)
		r = a.requestEmailChange(t, from, pass, uniqueEmail("elsewhere"))
		r.want(t, http.StatusTooManyRequests, "resend_cooldown")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 resend_cooldown without Retry-After")
		}
	})
	t.Run("quota of the new address", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["MAX_CODES_PER_DAY"], env["RESEND_COOLDOWN"] = "2", "0s"
		a := startApp(t, env)
		from, to := uniqueEmail("from"), uniqueEmail("to")
		a.signUp(t, from, pass)
		for range 2 {
			a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
		}
		r := a.requestEmailChange(t, from, pass, to)
		r.want(t, http.StatusTooManyRequests, "resend_cooldown")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 resend_cooldown without Retry-After")
		}
		// The quota is the new address's: another one may still receive a code.
		a.requestEmailChange(t, from, pass, uniqueEmail("other")).want(t, http.StatusAccepted, "")
	})
	t.Run("confirm", func(t *testing.T) {
		t.Parallel()
		a := startApp(t, baseEnv(t))
		from, to := uniqueEmail("from"), uniqueEmail("to")
		id := a.signUp(t, from, pass)
		a.confirmEmailChange(t, from, pass, "0000").want(t, http.StatusUnprocessableEntity, "invalid_code")
		a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, to, "email_change_code", 1).Code
		for _, bad := range []string{`{"code":"12a4"}`, `{"code":1234}`, `{}`} {
			a.do(t, http.MethodPost, "/v1/users/me/email/confirm", bad, from, pass).want(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		a.confirmEmailChange(t, from, pass, wrongCode(code)).want(t, http.StatusUnprocessableEntity, "invalid_code")
		ok := a.confirmEmailChange(t, from, pass, code)
		ok.want(t, http.StatusOK, "")
		if ok.body["email"] != to || ok.body["id"] != id || ok.body["status"] != "active" {
			t.Fatalf("200 body %s", ok.raw)
		}
		a.me(t, from, pass, http.StatusUnauthorized)
		if me := a.me(t, to, pass, http.StatusOK); me.body["id"] != id {
			t.Fatalf("the new address opens %s", me.raw)
		}
		a.confirmEmailChange(t, to, pass, code).want(t, http.StatusUnprocessableEntity, "invalid_code")
		// The old address is free.
		a.register(t, from, "another password").want(t, http.StatusCreated, "")
	})
	t.Run("dead codes", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["ACTIVATION_CODE_TTL"], env["ACTIVATION_MAX_ATTEMPTS"], env["RESEND_COOLDOWN"] = "1s", "2", "0s"
		a := startApp(t, env)
		db := openDB(t, env["DATABASE_URL"])
		from, to := uniqueEmail("from"), uniqueEmail("to")
		a.signUp(t, from, pass)

		a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, to, "email_change_code", 1).Code
		waitExpired(t, db, from, "email_change", time.Second)
		a.confirmEmailChange(t, from, pass, code).want(t, http.StatusGone, "code_expired")

		a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
		code = a.waitEmail(t, to, "email_change_code", 2).Code
		for range 2 {
			a.confirmEmailChange(t, from, pass, wrongCode(code)).want(t, http.StatusUnprocessableEntity, "invalid_code")
		}
		a.confirmEmailChange(t, from, pass, code).want(t, http.StatusTooManyRequests, "too_many_attempts")
		a.me(t, from, pass, http.StatusOK)

		// A pending account whose code died does not hold its address: the move takes it.
		stale := uniqueEmail("stale")
		a.register(t, stale, "stale password").want(t, http.StatusCreated, "")
		a.waitEmail(t, stale, "activation_code", 1)
		waitExpired(t, db, stale, "activation", time.Second)
		a.requestEmailChange(t, from, pass, stale).want(t, http.StatusAccepted, "")
		a.confirmEmailChange(t, from, pass, a.waitEmail(t, stale, "email_change_code", 1).Code).want(t, http.StatusOK, "")
		a.me(t, stale, pass, http.StatusOK)
		a.me(t, stale, "stale password", http.StatusUnauthorized)
	})
	t.Run("taken meanwhile", func(t *testing.T) {
		t.Parallel()
		a := startApp(t, baseEnv(t))
		from, to := uniqueEmail("from"), uniqueEmail("to")
		a.signUp(t, from, pass)
		a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, to, "email_change_code", 1).Code
		a.register(t, to, "someone else").want(t, http.StatusCreated, "")
		a.confirmEmailChange(t, from, pass, code).want(t, http.StatusConflict, "email_taken")
		a.me(t, from, pass, http.StatusOK)
		a.me(t, to, "someone else", http.StatusOK)
	})
}

// TestEmailChangeRaceNeverTwoAccounts races, many times over, the registration of an address
// against the confirmation of an account's move to it: whichever commits first keeps the
// address, the other is answered 409 email_taken, and the address never holds two accounts.
func TestEmailChangeRaceNeverTwoAccounts(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["RESEND_COOLDOWN"] = "0s"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	const pass = "password-1234"
	current := uniqueEmail("mover")
	id := a.signUp(t, current, pass)
	outcomes := map[string]int{}
	for i := range 25 {
		to := uniqueEmail("contested")
		a.requestEmailChange(t, current, pass, to).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, to, "email_change_code", 1).Code

		var reg, conf response
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; reg = a.register(t, to, "someone else") })
		wg.Go(func() { <-start; conf = a.confirmEmailChange(t, current, pass, code) })
		close(start)
		wg.Wait()

		holders := count(t, db, `SELECT count(*) FROM users WHERE email = $1`, to)
		if holders != 1 {
			t.Fatalf("try %d: %d accounts on %s (registration %d, confirmation %d)", i, holders, to, reg.status, conf.status)
		}
		switch {
		case conf.status == http.StatusOK && reg.status == http.StatusConflict && reg.body["code"] == "email_taken":
			outcomes["move first"]++
			if n := count(t, db, `SELECT count(*) FROM users WHERE id = $1 AND email = $2`, id, to); n != 1 {
				t.Fatalf("try %d: the move was answered 200 but the account is not on %s", i, to)
			}
			current = to
		case reg.status == http.StatusCreated && conf.status == http.StatusConflict && conf.body["code"] == "email_taken":
			outcomes["registration first"]++
			if n := count(t, db, `SELECT count(*) FROM users WHERE id = $1 AND email = $2`, id, current); n != 1 {
				t.Fatalf("try %d: the move lost but the account left %s", i, current)
			}
		default:
			t.Fatalf("try %d: registration %d %s, confirmation %d %s; want one success and one 409 email_taken",
				i, reg.status, reg.raw, conf.status, conf.raw)
		}
	}
	t.Logf("outcomes: %v", outcomes)
	a.me(t, current, pass, http.StatusOK)
}
