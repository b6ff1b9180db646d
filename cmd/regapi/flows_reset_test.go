package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestPasswordResetAnswers walks every answer of POST /v1/password-resets and
// POST /v1/password-resets/confirm.
func TestPasswordResetAnswers(t *testing.T) {
	t.Parallel()
	t.Run("request", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		a := startApp(t, env)
		db := openDB(t, env["DATABASE_URL"])
		email := uniqueEmail("reset-request")
		a.register(t, email, "password-1234").want(t, http.StatusCreated, "")
		for _, bad := range []string{"", "not an address", "a@10.0.0.5", email + "\r\nBcc: x@example.com"} {
			a.requestReset(t, bad).want(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		for _, to := range []string{uniqueEmail("nobody"), email, " " + email + " "} {
			r := a.requestReset(t, to)
			r.want(t, http.StatusAccepted, "")
			if r.body["expires_in_seconds"] != float64(60) {
				t.Fatalf("202 body %s", r.raw)
			}
		}
		// The second request fell within the cooldown: nothing more was issued.
		a.waitEmail(t, email, "password_reset_code", 1)
		if n := count(t, db, `SELECT count(*) FROM outbox WHERE recipient = $1 AND email_kind = 'password_reset_code'`, email); n != 1 {
			t.Fatalf("%d reset emails committed, want 1 (the second request was within the cooldown)", n)
		}
		// An unknown address leaves no record behind.
		if n := count(t, db, `SELECT count(*) FROM address_codes WHERE email LIKE 'nobody-%'`); n != 0 {
			t.Fatalf("%d address records for an unknown address", n)
		}
	})
	t.Run("request rate limited", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["RATE_LIMIT_PER_MINUTE"] = "2"
		a := startApp(t, env)
		a.requestReset(t, uniqueEmail("limited")).want(t, http.StatusAccepted, "")
		a.requestReset(t, "not an address").want(t, http.StatusUnprocessableEntity, "validation_failed")
		r := a.requestReset(t, uniqueEmail("limited"))
		r.want(t, http.StatusTooManyRequests, "rate_limited")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 rate_limited without Retry-After")
		}
	})
	t.Run("confirm", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		a := startApp(t, env)
		db := openDB(t, env["DATABASE_URL"])
		active, pending := uniqueEmail("reset-active"), uniqueEmail("reset-pending")
		a.signUp(t, active, "password-1234")
		a.register(t, pending, "password-1234").want(t, http.StatusCreated, "")
		a.requestReset(t, active).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, active, "password_reset_code", 1).Code

		for _, body := range []string{
			`{"email":"not an address","code":"` + code + `","password":"password-5678"}`,
			`{"email":"` + active + `","code":"12a4","password":"password-5678"}`,
			`{"email":"` + active + `","code":1234,"password":"password-5678"}`,
			`{"email":"` + active + `","code":"` + code + `","password":"short"}`,
			`{"email":"` + active + `","code":"` + code + `"}`,
		} {
			a.do(t, http.MethodPost, "/v1/password-resets/confirm", body, "", "").want(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		attempts := func() int {
			return count(t, db, `SELECT coalesce(sum(attempts), 0) FROM codes c JOIN users u ON u.id = c.user_id
				WHERE u.email = $1 AND c.kind = 'password_reset'`, active)
		}
		if n := attempts(); n != 0 {
			t.Fatalf("malformed confirmations counted %d attempts", n)
		}
		a.confirmReset(t, active, wrongCode(code), "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
		if n := attempts(); n != 1 {
			t.Fatalf("a wrong code counted %d attempts, want 1", n)
		}
		ok := a.confirmReset(t, " "+active+" ", code, "password-5678")
		ok.want(t, http.StatusOK, "")
		if ok.body["email"] != active || ok.body["status"] != "active" {
			t.Fatalf("200 body %s", ok.raw)
		}
		a.me(t, active, "password-1234", http.StatusUnauthorized)
		a.me(t, active, "password-5678", http.StatusOK)
		// Spent: the right digits are now just a wrong code.
		a.confirmReset(t, active, code, "password-9999").want(t, http.StatusUnprocessableEntity, "invalid_code")

		// A pending account's reset proves its address: it becomes active.
		a.requestReset(t, pending).want(t, http.StatusAccepted, "")
		got := a.confirmReset(t, pending, a.waitEmail(t, pending, "password_reset_code", 1).Code, "password-5678")
		got.want(t, http.StatusOK, "")
		if got.body["status"] != "active" || got.body["activated_at"] == nil {
			t.Fatalf("reset of a pending account: %s", got.raw)
		}
		a.activate(t, pending, "password-5678", a.waitEmail(t, pending, "activation_code", 1).Code).want(t, http.StatusConflict, "already_active")
	})
	t.Run("expired and burned codes", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["ACTIVATION_CODE_TTL"], env["ACTIVATION_MAX_ATTEMPTS"], env["RESEND_COOLDOWN"] = "1s", "2", "0s"
		a := startApp(t, env)
		db := openDB(t, env["DATABASE_URL"])
		email := uniqueEmail("reset-dead")
		a.register(t, email, "password-1234").want(t, http.StatusCreated, "")

		a.requestReset(t, email).want(t, http.StatusAccepted, "")
		code := a.waitEmail(t, email, "password_reset_code", 1).Code
		waitExpired(t, db, email, "password_reset", time.Second)
		a.confirmReset(t, email, wrongCode(code), "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
		a.confirmReset(t, email, code, "password-5678").want(t, http.StatusGone, "code_expired")

		a.requestReset(t, email).want(t, http.StatusAccepted, "")
		code = a.waitEmail(t, email, "password_reset_code", 2).Code
		for range 3 {
			a.confirmReset(t, email, wrongCode(code), "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
		}
		a.confirmReset(t, email, code, "password-5678").want(t, http.StatusTooManyRequests, "too_many_attempts")
		a.me(t, email, "password-1234", http.StatusOK)
	})
	t.Run("confirm rate limited", func(t *testing.T) {
		t.Parallel()
		env := baseEnv(t)
		env["RATE_LIMIT_PER_MINUTE"] = "3"
		a := startApp(t, env)
		email := uniqueEmail("reset-limited")
		a.register(t, email, "password-1234").want(t, http.StatusCreated, "")
		// Malformed confirmations are not failures; wrong codes and wrong Basic Auth share one budget.
		for range 3 {
			a.confirmReset(t, email, "12a4", "password-5678").want(t, http.StatusUnprocessableEntity, "validation_failed")
		}
		a.confirmReset(t, email, "0000", "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
		a.confirmReset(t, uniqueEmail("nobody"), "0000", "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
		a.me(t, email, "wrong password", http.StatusUnauthorized)
		r := a.confirmReset(t, email, "0000", "password-5678")
		r.want(t, http.StatusTooManyRequests, "rate_limited")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 rate_limited without Retry-After")
		}
		a.do(t, http.MethodGet, "/v1/users/me", "", email, "wrong password").want(t, http.StatusTooManyRequests, "rate_limited")
	})
}

// waitExpired waits until the code of kind of the account at email has been sent for longer
// than ttl, by the database's clock (the service's is the same machine's).
func waitExpired(t *testing.T, db *pgxpool.Pool, email, kind string, ttl time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10*time.Second + ttl)
	for {
		var expired bool
		err := db.QueryRow(context.Background(), `SELECT coalesce(bool_and(c.sent_at + $3 + interval '20 milliseconds' < now()), false)
			FROM codes c JOIN users u ON u.id = c.user_id WHERE u.email = $1 AND c.kind = $2`, email, kind, ttl).Scan(&expired)
		if err != nil {
			t.Fatal(err)
		}
		if expired {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s code of %s did not expire", kind, email)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResetCodeGuessBudget checks that asking for code after code does not buy guesses: a
// reset code counts against the address's daily quota with every other kind, a new reset
// code is refused in silence once the quota is spent, and a burned code stays burned.
func TestResetCodeGuessBudget(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["MAX_CODES_PER_DAY"], env["RESEND_COOLDOWN"], env["ACTIVATION_MAX_ATTEMPTS"] = "3", "0s", "2"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	email := uniqueEmail("budget")
	a.signUp(t, email, "password-1234") // code 1 of 3: activation

	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	first := a.waitEmail(t, email, "password_reset_code", 1).Code // code 2
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	last := a.waitEmail(t, email, "password_reset_code", 2).Code // code 3: the quota is spent
	if first != last {
		a.confirmReset(t, email, first, "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
	}
	for range 2 {
		a.confirmReset(t, email, wrongCode(first, last), "password-5678").want(t, http.StatusUnprocessableEntity, "invalid_code")
	}
	a.confirmReset(t, email, last, "password-5678").want(t, http.StatusTooManyRequests, "too_many_attempts")

	// A fourth code would bring fresh guesses: the answer is the same 202, but nothing is issued.
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE recipient = $1 AND email_kind = 'password_reset_code'`, email); n != 2 {
		t.Fatalf("%d reset codes committed, want 2 (the quota of 3 counts the activation code)", n)
	}
	if n := count(t, db, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, email); n != 3 {
		t.Fatalf("the address's quota history holds %d codes, want 3", n)
	}
	a.confirmReset(t, email, last, "password-5678").want(t, http.StatusTooManyRequests, "too_many_attempts")
	a.me(t, email, "password-1234", http.StatusOK)

	// The same quota refuses the other kinds: reset codes spent it for a pending account's resend.
	pending := uniqueEmail("budget-pending")
	a.register(t, pending, "password-1234").want(t, http.StatusCreated, "")
	a.requestReset(t, pending).want(t, http.StatusAccepted, "")
	a.requestReset(t, pending).want(t, http.StatusAccepted, "")
	r := a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", pending, "password-1234")
	r.want(t, http.StatusTooManyRequests, "resend_cooldown")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 resend_cooldown without Retry-After")
	}
}

// TestParallelWrongResetCodesCountExactly sends 20 wrong reset codes at once: every one is
// invalid_code (only the right digits learn that the code is burned), exactly
// ACTIVATION_MAX_ATTEMPTS are counted, and the right code is then refused as burned.
func TestParallelWrongResetCodesCountExactly(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	email := uniqueEmail("parallel-wrong")
	id := a.signUp(t, email, "password-1234")
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	code := a.waitEmail(t, email, "password_reset_code", 1).Code
	wrong := wrongCode(code)

	got := parallel(20, func() response { return a.confirmReset(t, email, wrong, "password-5678") })
	if got[http.StatusUnprocessableEntity] != 20 {
		t.Fatalf("20 parallel wrong codes: %v, want twenty 422 invalid_code", got)
	}
	if n := count(t, db, `SELECT attempts FROM codes WHERE user_id = $1 AND kind = 'password_reset'`, id); n != 5 {
		t.Fatalf("%d attempts counted, want ACTIVATION_MAX_ATTEMPTS = 5", n)
	}
	a.confirmReset(t, email, code, "password-5678").want(t, http.StatusTooManyRequests, "too_many_attempts")
	a.me(t, email, "password-1234", http.StatusOK)
}

// TestParallelResetConfirmsSucceedOnce sends the right reset code eight times at once, each
// with another new password: one succeeds, its password is the one that works, one notice
// is committed, and the others find the code spent.
func TestParallelResetConfirmsSucceedOnce(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	email := uniqueEmail("parallel-right")
	id := a.signUp(t, email, "password-1234")
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	code := a.waitEmail(t, email, "password_reset_code", 1).Code

	passwords := make(chan string, 8)
	for i := range 8 {
		passwords <- "new-password-" + string(rune('a'+i))
	}
	won := make(chan string, 8)
	got := parallel(8, func() response {
		pass := <-passwords
		r := a.confirmReset(t, email, code, pass)
		if r.status == http.StatusOK {
			won <- pass
		}
		return r
	})
	if got[http.StatusOK] != 1 || got[http.StatusUnprocessableEntity] != 7 {
		t.Fatalf("8 parallel right codes: %v, want one 200 and seven 422 invalid_code", got)
	}
	a.me(t, email, <-won, http.StatusOK)
	a.me(t, email, "password-1234", http.StatusUnauthorized)
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE user_id = $1 AND email_kind = 'password_changed'`, id); n != 1 {
		t.Fatalf("%d password_changed notices, want 1", n)
	}
}
