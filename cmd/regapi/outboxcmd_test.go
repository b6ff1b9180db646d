package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An operator lists the dead emails and brings them back: `regapi outbox retry` sends a dead
// email again, with the same idempotency key, while its code is still the account's current
// one, and skips it with the reason once a newer code replaced it.
func TestOutboxDeadAndRetryCommands(t *testing.T) {
	t.Parallel()
	var refusing atomic.Bool
	refusing.Store(true)
	f := newFakeProvider(t, func(string, int, *http.Request) int {
		if refusing.Load() {
			return http.StatusUnprocessableEntity // permanent: straight to dead
		}
		return http.StatusOK
	})
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"], env["RESEND_COOLDOWN"] = "mailpit", f.URL, "0s"
	a := startApp(t, env)
	command := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
		return out.String(), err
	}

	a.register(t, "dana@example.com", "password-1234").want(t, http.StatusCreated, "")
	a.register(t, "eli@example.com", "password-1234").want(t, http.StatusCreated, "")
	var listed string
	waitUntil(t, 30*time.Second, func() (bool, string) {
		out, err := command("outbox", "dead")
		if err != nil {
			t.Fatalf("outbox dead: %v", err)
		}
		listed = out
		return strings.Count(out, "\n") == 3, "outbox dead lists 2 emails:\n" + out // a header, then a line each
	})
	if strings.Contains(listed, "payload") || !strings.Contains(listed, "dana@example.com") || !strings.Contains(listed, "422") {
		t.Fatalf("outbox dead printed:\n%s", listed)
	}
	danaID := regexp.MustCompile(`(?m)^(\d+)\s+dana@`).FindStringSubmatch(listed)[1]
	eliID := regexp.MustCompile(`(?m)^(\d+)\s+eli@`).FindStringSubmatch(listed)[1]

	// Eli asks for a new code: the dead email's code is no longer Eli's current one.
	refusing.Store(false)
	a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", "eli@example.com", "password-1234").want(t, http.StatusAccepted, "")
	out, err := command("outbox", "retry", danaID, eliID, "999999")
	if err == nil || !strings.Contains(out, danaID+" retried") ||
		!strings.Contains(out, eliID+" skipped: code is no longer the account's current one") ||
		!strings.Contains(out, "999999 not found") || !strings.Contains(out, "1 retried, 1 skipped, 1 not found") {
		t.Fatalf("outbox retry: %v\n%s", err, out)
	}
	f.waitAccepted(t, 2, 30*time.Second) // Dana's retried email and Eli's new one
	a.activate(t, "dana@example.com", "password-1234", f.codeOf("dana@example.com", 0)).want(t, http.StatusOK, "")
	if out, err := command("outbox", "dead"); err != nil || !strings.Contains(out, "eli@example.com") || strings.Contains(out, "dana@") {
		t.Fatalf("after the retry, outbox dead: %v\n%s", err, out)
	}
}
