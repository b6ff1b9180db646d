package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The flows after sign-up (password reset and change, address change, deletion) end to end:
// helpers shared by flows_*_test.go, the request shapes every new endpoint refuses, and the
// notices that commit with their change.

// loggedEmail is an email as the log provider wrote it to the process's stdout.
type loggedEmail struct {
	Msg, Kind, Code, To, Subject, Text string
}

// emails returns the emails of kind (every kind for "") the log provider wrote to to, in the
// order it wrote them.
func (a *app) emails(to, kind string) []loggedEmail {
	var out []loggedEmail
	for line := range strings.SplitSeq(a.stdout.String(), "\n") {
		if !strings.Contains(line, `"msg":"email"`) {
			continue
		}
		var e loggedEmail
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "email" && e.To == to && (kind == "" || e.Kind == kind) {
			out = append(out, e)
		}
	}
	return out
}

// waitEmail waits until the log provider wrote n emails of kind to to, and returns the n-th.
func (a *app) waitEmail(t *testing.T, to, kind string, n int) loggedEmail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := a.emails(to, kind); len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s email #%d to %s within 10s", kind, n, to)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signUp registers email with pass and activates it with the code the log provider wrote,
// and returns the account's id. email must be new to the process.
func (a *app) signUp(t *testing.T, email, pass string) string {
	t.Helper()
	reg := a.register(t, email, pass)
	reg.want(t, http.StatusCreated, "")
	a.activate(t, email, pass, a.waitEmail(t, email, "activation_code", 1).Code).want(t, http.StatusOK, "")
	return reg.body["id"].(string)
}

func (a *app) requestReset(t *testing.T, email string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/password-resets", fmt.Sprintf(`{"email":%q}`, email), "", "")
}

func (a *app) confirmReset(t *testing.T, email, code, pass string) response {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"code":%q,"password":%q}`, email, code, pass)
	return a.do(t, http.MethodPost, "/v1/password-resets/confirm", body, "", "")
}

func (a *app) changePassword(t *testing.T, email, pass, newPass string) response {
	t.Helper()
	return a.do(t, http.MethodPut, "/v1/users/me/password", fmt.Sprintf(`{"password":%q}`, newPass), email, pass)
}

func (a *app) requestEmailChange(t *testing.T, email, pass, newEmail string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/users/me/email", fmt.Sprintf(`{"email":%q}`, newEmail), email, pass)
}

func (a *app) confirmEmailChange(t *testing.T, email, pass, code string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/users/me/email/confirm", fmt.Sprintf(`{"code":%q}`, code), email, pass)
}

func (a *app) deleteMe(t *testing.T, email, pass string) response {
	t.Helper()
	return a.do(t, http.MethodDelete, "/v1/users/me", "", email, pass)
}

// me fails t unless email and pass authenticate with status (200 or 401).
func (a *app) me(t *testing.T, email, pass string, status int) response {
	t.Helper()
	r := a.do(t, http.MethodGet, "/v1/users/me", "", email, pass)
	r.want(t, status, "")
	return r
}

// wrongCode returns a well-formed code other than each of codes.
func wrongCode(codes ...string) string {
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%04d", n); !slices.Contains(codes, c) {
			return c
		}
	}
}

// count runs a SELECT count(*) query on db.
func count(t *testing.T, db *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// send is a.do with the request's headers given in full, for the shapes a.do cannot send.
func (a *app) send(t *testing.T, method, path, body string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	return exchange(t, req, body)
}

// TestFlowRequestShapes checks what every new endpoint refuses before looking at the body's
// meaning: missing or wrong credentials, bodies that are not the JSON object it takes, the
// wrong media type, an over-long body.
func TestFlowRequestShapes(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	const email, pass = "shapes@example.com", "password-1234"
	a.signUp(t, email, pass)
	basic := func(user, pw string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		if user != "" {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.SetBasicAuth(user, pw)
			h.Set("Authorization", r.Header.Get("Authorization"))
		}
		return h
	}
	endpoints := []struct {
		method, path, body string
		auth               bool
	}{
		{http.MethodPost, "/v1/password-resets", `{"email":"shapes@example.com"}`, false},
		{http.MethodPost, "/v1/password-resets/confirm", `{"email":"shapes@example.com","code":"0000","password":"password-5678"}`, false},
		{http.MethodPut, "/v1/users/me/password", `{"password":"password-5678"}`, true},
		{http.MethodPost, "/v1/users/me/email", `{"email":"shapes2@example.com"}`, true},
		{http.MethodPost, "/v1/users/me/email/confirm", `{"code":"0000"}`, true},
		{http.MethodDelete, "/v1/users/me", "", true},
	}
	for _, e := range endpoints {
		what := e.method + " " + e.path
		if e.auth {
			a.send(t, e.method, e.path, e.body, basic("", "")).want(t, http.StatusUnauthorized, "unauthorized")
			r := a.send(t, e.method, e.path, e.body, basic(email, "wrong password"))
			r.want(t, http.StatusUnauthorized, "unauthorized")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", what)
			}
		}
		if e.body == "" {
			continue
		}
		for _, bad := range []struct {
			name, body, contentType string
			status                  int
			code                    string
		}{
			{"truncated JSON", e.body[:len(e.body)-1], "application/json", 400, "malformed_request"},
			{"an array", "[" + e.body + "]", "application/json", 400, "malformed_request"},
			{"a member twice", strings.Replace(e.body, "{", `{"code":"1","code":"2",`, 1), "application/json", 400, "malformed_request"},
			{"text/plain", e.body, "text/plain", 415, "unsupported_media_type"},
			{"over 64 KiB", `{"pad":"` + strings.Repeat("x", 65<<10) + `"}`, "application/json", 413, "request_too_large"},
		} {
			h := basic("", "")
			if e.auth {
				h = basic(email, pass)
			}
			h.Set("Content-Type", bad.contentType)
			got := a.send(t, e.method, e.path, bad.body, h)
			if got.status != bad.status || got.body["code"] != bad.code {
				t.Errorf("%s with %s: %d %v, want %d %s", what, bad.name, got.status, got.body["code"], bad.status, bad.code)
			}
		}
	}
	// None of it changed the account.
	a.me(t, email, pass, http.StatusOK)
}

// TestNoticesCommitWithTheirChange checks that a password change, a password reset and an
// address change each commit exactly one notice, in the same transaction as the change: while
// the database refuses the notice, the change does not happen either (and its code is not
// spent); once it accepts it, each success finds its one notice committed by the time it is
// answered, and a failure commits none.
func TestNoticesCommitWithTheirChange(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["RESEND_COOLDOWN"] = "0s"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	old, moved := uniqueEmail("notice"), uniqueEmail("notice-moved")
	id := a.signUp(t, old, "password-0001")
	notices := func(kind, recipient string) int {
		t.Helper()
		return count(t, db, `SELECT count(*) FROM outbox WHERE user_id = $1 AND email_kind = $2 AND recipient = $3`, id, kind, recipient)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}

	exec(`CREATE FUNCTION refuse_notice() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'notice refused by the test'; END $$`)
	exec(`CREATE TRIGGER refuse_notice BEFORE INSERT ON outbox FOR EACH ROW
		WHEN (NEW.email_kind IN ('password_changed', 'email_changed')) EXECUTE FUNCTION refuse_notice()`)
	fails := func(r response) {
		t.Helper()
		if r.status < 500 {
			t.Fatalf("status %d while the notice cannot commit, want a 5xx; body %s", r.status, r.raw)
		}
	}
	fails(a.changePassword(t, old, "password-0001", "password-0002"))
	a.me(t, old, "password-0001", http.StatusOK)
	a.me(t, old, "password-0002", http.StatusUnauthorized)

	a.requestReset(t, old).want(t, http.StatusAccepted, "")
	reset := a.waitEmail(t, old, "password_reset_code", 1).Code
	fails(a.confirmReset(t, old, reset, "password-0003"))
	a.me(t, old, "password-0001", http.StatusOK)
	a.me(t, old, "password-0003", http.StatusUnauthorized)

	a.requestEmailChange(t, old, "password-0001", moved).want(t, http.StatusAccepted, "")
	change := a.waitEmail(t, moved, "email_change_code", 1).Code
	fails(a.confirmEmailChange(t, old, "password-0001", change))
	a.me(t, old, "password-0001", http.StatusOK)
	a.me(t, moved, "password-0001", http.StatusUnauthorized)
	if n := notices("password_changed", old) + notices("email_changed", old); n != 0 {
		t.Fatalf("%d notices committed while the database refused them", n)
	}

	exec(`DROP TRIGGER refuse_notice ON outbox`)
	a.changePassword(t, old, "password-0001", "short").want(t, http.StatusUnprocessableEntity, "validation_failed")
	a.confirmReset(t, old, wrongCode(reset), "password-0003").want(t, http.StatusUnprocessableEntity, "invalid_code")
	a.confirmEmailChange(t, old, "password-0001", wrongCode(change)).want(t, http.StatusUnprocessableEntity, "invalid_code")
	if n := notices("password_changed", old) + notices("email_changed", old); n != 0 {
		t.Fatalf("%d notices committed by failed requests", n)
	}

	a.changePassword(t, old, "password-0001", "password-0002").want(t, http.StatusNoContent, "")
	if n := notices("password_changed", old); n != 1 {
		t.Fatalf("password change answered with %d password_changed notices committed, want 1", n)
	}
	// The refused reset and address change spent nothing: their codes still work.
	a.confirmReset(t, old, reset, "password-0003").want(t, http.StatusOK, "")
	if n := notices("password_changed", old); n != 2 {
		t.Fatalf("password reset answered with %d password_changed notices committed in all, want 2", n)
	}
	a.confirmEmailChange(t, old, "password-0003", change).want(t, http.StatusOK, "")
	if n := notices("email_changed", old); n != 1 {
		t.Fatalf("address change answered with %d email_changed notices to the old address, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE user_id = $1 AND email_kind = 'email_changed'`, id); n != 1 {
		t.Fatalf("%d email_changed notices in all, want 1", n)
	}
	a.me(t, moved, "password-0003", http.StatusOK)
}
