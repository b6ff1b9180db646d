package main

import (
	"net/http"
	"testing"
)

func TestAddressesMustNameAHost(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	for _, email := range []string{
		"a@127.0.0.1",
		"a@10.0.0.5",
		"a@169.254.169.254",
		"a@example.123",
		"a@127.1",
		"a@0x7f.0.0.0x1",
		"a@[10.0.0.1]",
		"a@[IPv6:::1]",
		"a@app.localhost",
	} {
		r := a.register(t, email, "correct horse battery")
		r.want(t, http.StatusUnprocessableEntity, "validation_failed")
		wantFieldError(t, r, "email")
	}
	// A numeric label below a real top level is a host name like any other.
	a.register(t, "a@10.0.0.5.example.com", "correct horse battery").want(t, http.StatusCreated, "")
}
