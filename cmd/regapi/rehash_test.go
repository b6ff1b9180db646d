package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestLoginAfterACostRaiseRehashesThePassword(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	a, stop := runApp(t, env)
	email := uniqueEmail("rehash")
	a.register(t, email, passwordNFC).want(t, http.StatusCreated, "")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, env["DATABASE_URL"])
	storedHash := func() string {
		var h string
		if err := db.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE email = $1", email).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	const before, after = "$argon2id$v=19$m=64,t=1,p=1$", "$argon2id$v=19$m=128,t=1,p=1$"
	if h := storedHash(); !strings.HasPrefix(h, before) {
		t.Fatalf("stored hash %q, want one with %s", h, before)
	}

	env["ARGON2_MEMORY_KIB"] = "128"
	a = startApp(t, env)
	a.do(t, http.MethodGet, "/v1/users/me", "", email, "wrong password").want(t, http.StatusUnauthorized, "unauthorized")
	if h := storedHash(); !strings.HasPrefix(h, before) {
		t.Fatalf("after a failed login the stored hash is %q, want it untouched", h)
	}
	// The password typed in another normalisation form is the same password.
	a.do(t, http.MethodGet, "/v1/users/me", "", email, passwordNFD).want(t, http.StatusOK, "")
	if h := storedHash(); !strings.HasPrefix(h, after) {
		t.Fatalf("after a successful login the stored hash is %q, want one with %s", h, after)
	}
	a.do(t, http.MethodGet, "/v1/users/me", "", email, passwordNFC).want(t, http.StatusOK, "")
}
