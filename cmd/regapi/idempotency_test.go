package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// withKey returns a client of a that sends every request with Idempotency-Key key.
func (a *app) withKey(key string) *app {
	b := *a
	b.header = a.header.Clone()
	if b.header == nil {
		b.header = http.Header{}
	}
	b.header.Set("Idempotency-Key", key)
	return &b
}

// TestRetriedRegistrationIsAnsweredFromItsRecord: a registration repeated with its key gets
// the first answer, marked replayed, and creates nothing more; the same key with another body
// is refused; a request that took no effect leaves the key free.
func TestRetriedRegistrationIsAnsweredFromItsRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	email, pass := uniqueEmail("retry"), "correct horse battery"
	k := a.withKey("reg-" + email)

	first := k.register(t, email, pass)
	first.want(t, http.StatusCreated, "")
	again := k.register(t, email, pass)
	again.want(t, http.StatusCreated, "")
	if again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("Location") != "/v1/users/me" {
		t.Fatalf("retry answered %s (replayed %q), want the first answer %s replayed",
			again.raw, again.header.Get("Idempotent-Replayed"), first.raw)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first answer marked replayed")
	}
	k.register(t, email, "another password").want(t, http.StatusUnprocessableEntity, "idempotency_key_reused")

	db := openDB(t, env["DATABASE_URL"])
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE recipient = $1 AND destination = 'email'`, email); n != 1 {
		t.Errorf("%d emails to %s, want 1", n, email)
	}

	// A request that took no effect (a validation failure) is processed anew, body and all.
	other := uniqueEmail("retry-fixed")
	k2 := a.withKey("reg-" + other)
	k2.register(t, other, "short").want(t, http.StatusUnprocessableEntity, "validation_failed")
	k2.register(t, other, pass).want(t, http.StatusCreated, "")
}

// TestParallelRetriesTakeEffectOnce: the same registration sent ten times at once with one
// key creates one account; every answer is the registration's own (201, first or replayed)
// or request_in_progress, never email_taken.
func TestParallelRetriesTakeEffectOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	email, pass := uniqueEmail("parallel-retry"), "correct horse battery"
	k := a.withKey("parallel-" + email)
	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			r := k.register(t, email, pass)
			code, _ := r.body["code"].(string)
			mu.Lock()
			answers[fmt.Sprintf("%d %s %s", r.status, code, r.header.Get("Idempotent-Replayed"))]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for answer := range answers {
		if answer != "201  " && answer != "201  true" && answer != "409 request_in_progress " {
			t.Errorf("answer %q among %v", answer, answers)
		}
	}
	if answers["201  "] != 1 {
		t.Errorf("answers %v, want exactly one first 201", answers)
	}
	if n := count(t, openDB(t, env["DATABASE_URL"]), `SELECT count(*) FROM users WHERE email = $1`, email); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

// TestIdempotencyKeyScope: a key is the client's own: the same key from another account is
// another request; a malformed key is refused before anything happens.
func TestIdempotencyKeyScope(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	t.Parallel()
	env := baseEnv(t)
	env["RESEND_COOLDOWN"] = "0s"
	a := startApp(t, env)
	pass := "correct horse battery"
	alice, bob := uniqueEmail("scope-a"), uniqueEmail("scope-b")
	a.register(t, alice, pass).want(t, http.StatusCreated, "")
	a.register(t, bob, pass).want(t, http.StatusCreated, "")
	k := a.withKey("shared-key")
	first := k.do(t, http.MethodPost, "/v1/users/me/activation-code", "", alice, pass)
	first.want(t, http.StatusAccepted, "")
	other := k.do(t, http.MethodPost, "/v1/users/me/activation-code", "", bob, pass)
	other.want(t, http.StatusAccepted, "")
	if other.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("bob's request replayed alice's answer")
	}
	replayed := k.do(t, http.MethodPost, "/v1/users/me/activation-code", "", alice, pass)
	if replayed.status != http.StatusAccepted || replayed.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("alice's retry: %d replayed %q, want 202 replayed", replayed.status, replayed.header.Get("Idempotent-Replayed"))
	}
	// Three resends were asked for, two were issued: each address has had two codes.
	db := openDB(t, env["DATABASE_URL"])
	for _, email := range []string{alice, bob} {
		if n := count(t, db, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, email); n != 2 {
			t.Errorf("%s: %d codes issued, want 2 (registration and one resend)", email, n)
		}
	}

	for _, key := range []string{strings.Repeat("k", 256), "has space", "tab\tin", "é"} {
		a.withKey(key).register(t, uniqueEmail("bad-key"), pass).want(t, http.StatusBadRequest, "malformed_request")
	}
}
