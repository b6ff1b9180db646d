package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// TestSMTPThroughRealMailpit sends through Mailpit's SMTP listener with AUTH, and reads the
// email back through its API. The Mailpit provider derives the same Message-ID from the same
// key, so Mailpit (ignoring duplicate Message-IDs) stores the email once whichever sent it.
func TestSMTPThroughRealMailpit(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t, mailpittest.WithSMTPAuth(t, "regapi", "relay-pass"))
	m := testMessage
	m.To, m.Text, m.HTML, m.Code = uniqueRecipient(), "Your code is 0815.\nIt is valid for 1 minute.", "<p>Your code is <b>0815</b>.</p>", "0815"
	key := "outbox-" + m.To
	p := newSMTP(t, "smtp://regapi:relay-pass@"+mp.SMTPAddr+"?starttls=off", nil)
	for attempt := range 2 {
		if err := p.Send(t.Context(), m, key); err != nil {
			t.Fatalf("Send attempt %d: %v", attempt+1, err)
		}
	}
	if err := newMailpit(t, mp.URL).Send(t.Context(), m, key); err != nil {
		t.Fatalf("Mailpit provider: %v", err)
	}
	got := readBack(t, mp.URL, m.To, 1)
	if got.From.Address != "no-reply@regapi.local" || got.Subject != m.Subject || len(got.To) != 1 || got.To[0].Address != m.To {
		t.Errorf("From = %+v, To = %+v, Subject = %q", got.From, got.To, got.Subject)
	}
	if strings.ReplaceAll(strings.TrimSpace(got.Text), "\r\n", "\n") != m.Text || !strings.Contains(got.HTML, "<b>0815</b>") {
		t.Errorf("delivered text %q, HTML %q", got.Text, got.HTML)
	}
}

// readBack waits until Mailpit holds want messages for to and returns the newest.
func readBack(t *testing.T, base, to string, want int) mailpittest.Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := mailpittest.Messages(t.Context(), base, to)
		if err == nil && len(got) >= want {
			time.Sleep(200 * time.Millisecond) // a duplicate would land now
			if got, err = mailpittest.Messages(t.Context(), base, to); err != nil || len(got) != want {
				t.Fatalf("Mailpit holds %d messages for %s, want %d (%v)", len(got), to, want, err)
			}
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit holds %d messages for %s, want %d (%v)", len(got), to, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSMTPTLSWithRealMailpit: Mailpit requires STARTTLS, or TLS from the first byte, with a
// self-signed certificate that only the test trusts.
func TestSMTPTLSWithRealMailpit(t *testing.T) {
	t.Parallel()
	cert := mailpittest.SelfSigned(t)
	for scheme, implicit := range map[string]bool{"smtp": false, "smtps": true} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			mp := mailpittest.Start(t, mailpittest.WithSMTPAuth(t, "regapi", "relay-pass"),
				mailpittest.WithSMTPTLS(cert.CertFile, cert.KeyFile, implicit))
			rawURL := scheme + "://regapi:relay-pass@" + mp.SMTPAddr
			m := testMessage
			m.To = uniqueRecipient()
			if err := newSMTP(t, rawURL, nil).Send(t.Context(), m, "key-untrusted"); kind(err) != "temporary" {
				t.Fatalf("Send with the system's roots = %v, want a temporary TLS failure", err)
			}
			if err := newSMTP(t, rawURL, cert.Pool).Send(t.Context(), m, "key-trusted"); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := readBack(t, mp.URL, m.To, 1); strings.TrimSpace(got.Text) != m.Text {
				t.Errorf("delivered text %q", got.Text)
			}
		})
	}
}

func TestSMTPWrongPasswordWithRealMailpit(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t, mailpittest.WithSMTPAuth(t, "regapi", "relay-pass"))
	err := newSMTP(t, "smtp://regapi:not-the-pass@"+mp.SMTPAddr+"?starttls=off", nil).Send(t.Context(), testMessage, "key-1")
	if !mail.IsPermanent(err) {
		t.Fatalf("Send() = %v, want a permanent error", err)
	}
	if strings.Contains(err.Error(), "not-the-pass") {
		t.Errorf("error %q repeats the password", err)
	}
	t.Logf("wrong password: %v", err)
}
