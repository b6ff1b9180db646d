package main

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// The happy paths of the flows after sign-up through a real Mailpit: codes are read from the
// emails, and the notices are checked as a user receives them.

// TestPasswordResetThroughMailpit runs a reset through a real Mailpit: the code is read from
// the email, and the notice that the password changed arrives, without a code.
func TestPasswordResetThroughMailpit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mailpit process")
	}
	a, mp := mailpitApp(t, nil)
	email := uniqueEmail("forgot")
	a.register(t, email, "password-1234").want(t, http.StatusCreated, "")
	a.activate(t, email, "password-1234", mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)).want(t, http.StatusOK, "")

	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	code := mailpittest.WaitForCode(t, mp, email, 2, 10*time.Second)
	a.confirmReset(t, email, code, "password-5678").want(t, http.StatusOK, "")
	a.me(t, email, "password-5678", http.StatusOK)

	notice := waitMessages(t, mp, email, 3)[0]
	if notice.Subject == "" || codeInText.MatchString(notice.Text) || !containsFold(notice.Text, "password") {
		t.Fatalf("password_changed notice: subject %q, text:\n%s", notice.Subject, notice.Text)
	}
	reset := waitMessages(t, mp, email, 3)[1]
	if !containsFold(reset.Text, "reset") {
		t.Fatalf("reset email does not say what it is for:\n%s", reset.Text)
	}
}

// TestEmailChangeThroughMailpit moves an account through a real Mailpit: the code is read
// from the email to the new address, and the old address gets a notice naming the new one
// with its local part masked.
func TestEmailChangeThroughMailpit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mailpit process")
	}
	a, mp := mailpitApp(t, nil)
	const pass = "password-1234"
	from := uniqueEmail("moving")
	to := "a" + strings.ToLower(rand.Text()[:10]) + "@example.org"
	a.register(t, from, pass).want(t, http.StatusCreated, "")
	a.activate(t, from, pass, mailpittest.WaitForCode(t, mp, from, 1, 10*time.Second)).want(t, http.StatusOK, "")

	a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
	code := mailpittest.WaitForCode(t, mp, to, 1, 10*time.Second)
	a.confirmEmailChange(t, from, pass, code).want(t, http.StatusOK, "")
	a.me(t, to, pass, http.StatusOK)
	a.me(t, from, pass, http.StatusUnauthorized)

	notice := waitMessages(t, mp, from, 2)[0]
	text := notice.Text + notice.Subject + notice.HTML
	if notice.Subject == "" || !strings.Contains(notice.Text, "a***@example.org") || strings.Contains(text, to) ||
		codeInText.MatchString(notice.Text) {
		t.Fatalf("email_changed notice: subject %q, text:\n%s", notice.Subject, notice.Text)
	}
	a.register(t, from, "another password").want(t, http.StatusCreated, "")
}

// waitMessages waits until Mailpit holds n messages for to, and returns them, newest first.
func waitMessages(t *testing.T, mp, to string, n int) []mailpittest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := mailpittest.Messages(t.Context(), mp, to)
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit holds fewer than %d messages for %s after 10s (last error: %v)", n, to, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}
