package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLogsKeepSecretsOut runs a whole registration at LOG_LEVEL=debug and searches everything
// the process printed for the password, the codes and the Authorization header. The email
// goes through an HTTP provider: the log provider prints each email, code included, to stdout
// by contract, which is not a leak.
func TestLogsKeepSecretsOut(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t, func(string, int, *http.Request) int { return http.StatusOK })
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["LOG_LEVEL"] = "mailpit", f.URL, "debug"
	a := startApp(t, env)
	const requestID = "secrets-test"
	a.header = http.Header{"X-Request-Id": {requestID}}
	// A fixed address: a random one could hold four digits that look like a code.
	const email, pass, wrongPass = "secrets@example.com", "Zebra-Password-8c1f", "Wrong-Password-77aa"

	reg := a.register(t, email, pass)
	reg.want(t, http.StatusCreated, "")
	if got := reg.header.Get("X-Request-ID"); got != requestID {
		t.Fatalf("X-Request-ID %q, want %q echoed", got, requestID)
	}
	f.waitAccepted(t, 1, 30*time.Second)
	code := f.codeOf(email, 0)
	wrong := "0000"
	if code == wrong {
		wrong = "0001"
	}
	a.activate(t, email, wrongPass, code).want(t, http.StatusUnauthorized, "unauthorized")
	a.activate(t, email, pass, wrong).want(t, http.StatusUnprocessableEntity, "invalid_code")
	a.activate(t, email, pass, code).want(t, http.StatusOK, "")
	a.do(t, http.MethodGet, "/v1/users/me", "", email, pass).want(t, http.StatusOK, "")

	out := a.stdout.String()
	var requestLines int
	for _, secret := range []string{
		pass, wrongPass,
		base64.StdEncoding.EncodeToString([]byte(email + ":" + pass)),
		base64.StdEncoding.EncodeToString([]byte(email + ":" + wrongPass)),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
	for line := range strings.Lines(out) {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry["request_id"] == requestID {
			requestLines++
			for _, key := range []string{"method", "route", "status", "duration_ms"} {
				if _, ok := entry[key]; !ok {
					t.Errorf("request log line lacks %q: %s", key, line)
				}
			}
		}
		// A code is looked for as a number of its own in every string but the timestamp.
		delete(entry, "time")
		for _, c := range []string{code, wrong} {
			if holdsNumber(entry, c) {
				t.Errorf("log line holds the code %s: %s", c, line)
			}
		}
	}
	if requestLines != 5 {
		t.Errorf("%d log lines carry the request id, want one per request (5):\n%s", requestLines, out)
	}
}

// holdsNumber reports whether a string anywhere in v holds digits as a number of its own.
func holdsNumber(v any, digits string) bool {
	switch v := v.(type) {
	case string:
		return regexp.MustCompile(`(^|[^0-9])` + digits + `([^0-9]|$)`).MatchString(v)
	case map[string]any:
		for k, e := range v {
			if holdsNumber(k, digits) || holdsNumber(e, digits) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if holdsNumber(e, digits) {
				return true
			}
		}
	}
	return false
}
