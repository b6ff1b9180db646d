package mail_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/mail/mailpittest"
	"github.com/regapi/regapi/internal/mail/smtptest"
)

func newSMTP(t *testing.T, rawURL string, roots *x509.CertPool) mail.Provider {
	t.Helper()
	p, err := mail.NewSMTPProvider(rawURL, roots)
	if err != nil {
		t.Fatalf("NewSMTPProvider: %v", err)
	}
	return p
}

func TestSMTPClassifiesReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step, reply, want string
	}{
		{"", "", "ok"},
		{"GREETING", "421 4.3.2 service not available, try later", "temporary"},
		{"GREETING", "554 5.3.2 no service here", "permanent"},
		{"MAIL", "451 4.3.0 local problem", "temporary"},
		{"MAIL", "553 5.1.8 sender domain does not exist", "permanent"},
		{"RCPT", "450 4.2.1 mailbox busy", "temporary"},
		{"RCPT", "550 5.1.1 no such user here", "permanent"},
		{"DATA", "452 4.3.1 insufficient storage", "temporary"},
		{"DATA", "554 5.3.4 transaction failed", "permanent"},
		{"END", "451 4.7.1 greylisted, come back later", "temporary"},
		{"END", "552 5.3.4 message too big", "permanent"},
	}
	for _, tt := range tests {
		t.Run(tt.step+" "+tt.reply, func(t *testing.T) {
			t.Parallel()
			f := smtptest.Start(t, &smtptest.Relay{Replies: map[string]string{tt.step: tt.reply}})
			err := newSMTP(t, "smtp://"+f.Addr()+"?starttls=off", nil).Send(t.Context(), testMessage, "key-1")
			if got := kind(err); got != tt.want {
				t.Fatalf("Send() = %v (%s), want %s", err, got, tt.want)
			}
			if err != nil {
				// The reply is kept, for the dead email's record, without the recipient.
				if code := tt.reply[:3]; !strings.Contains(err.Error(), code) || !strings.Contains(err.Error(), tt.reply[10:]) {
					t.Errorf("error %q does not carry the reply %q", err, tt.reply)
				}
				if strings.Contains(err.Error(), testMessage.To) {
					t.Errorf("error %q names the recipient", err)
				}
				return
			}
			checkDelivered(t, f.Accepted(), "key-1")
		})
	}
}

// checkDelivered checks the one message a relay accepted: both parts, and the Message-ID of
// key.
func checkDelivered(t *testing.T, got []string, key string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("relay accepted %d messages, want 1", len(got))
	}
	msg := got[0]
	for _, want := range []string{"Subject: " + testMessage.Subject, "To: <alice@example.com>",
		"Content-Type: text/plain", "Content-Type: text/html", "code 0427", "<p>code 0427</p>", "Message-ID: <"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if key == "" {
		return
	}
	other := newMessageID(t, "another-key")
	if id := newMessageID(t, key); !strings.Contains(msg, id) || id == other {
		t.Errorf("message lacks Message-ID %s (another key gives %s):\n%s", id, other, msg)
	}
}

// newMessageID reads the Message-ID the SMTP provider gives key, from a relay that accepts it.
func newMessageID(t *testing.T, key string) string {
	t.Helper()
	f := smtptest.Start(t, &smtptest.Relay{})
	if err := newSMTP(t, "smtp://"+f.Addr()+"?starttls=off", nil).Send(t.Context(), testMessage, key); err != nil {
		t.Fatal(err)
	}
	msg := f.Accepted()[0]
	_, rest, _ := strings.Cut(msg, "Message-ID: ")
	id, _, _ := strings.Cut(rest, "\n")
	return id
}

// serverTLS returns a self-signed certificate and a relay's TLS configuration serving it.
func serverTLS(t *testing.T) (mailpittest.Certificate, *tls.Config) {
	t.Helper()
	cert := mailpittest.SelfSigned(t)
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cert, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func TestSMTPConnectionAndTLSFailuresAreTemporary(t *testing.T) {
	t.Parallel()
	_, tlsConfig := serverTLS(t)
	noTLS := smtptest.Start(t, &smtptest.Relay{})
	untrusted := smtptest.Start(t, &smtptest.Relay{TLS: tlsConfig})
	untrustedImplicit := smtptest.Start(t, &smtptest.Relay{TLS: tlsConfig, Implicit: true})
	for name, rawURL := range map[string]string{
		"connection refused":               "smtp://127.0.0.1:1",
		"STARTTLS not offered":             "smtp://" + noTLS.Addr(),
		"untrusted certificate (STARTTLS)": "smtp://" + untrusted.Addr(),
		"untrusted certificate (smtps)":    "smtps://" + untrustedImplicit.Addr(),
		"plain relay spoken to as smtps":   "smtps://" + noTLS.Addr(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			err := newSMTP(t, rawURL, nil).Send(ctx, testMessage, "key-1")
			if kind(err) != "temporary" {
				t.Fatalf("Send() = %v, want a temporary error", err)
			}
		})
	}
	if n := len(noTLS.Accepted()) + len(untrusted.Accepted()); n != 0 {
		t.Errorf("%d messages went out without the TLS they required", n)
	}
}

func TestSMTPOverTLSWithATrustedCertificate(t *testing.T) {
	t.Parallel()
	cert, tlsConfig := serverTLS(t)
	for name, implicit := range map[string]bool{"STARTTLS": false, "smtps": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := smtptest.Start(t, &smtptest.Relay{TLS: tlsConfig, Implicit: implicit, User: "relay-user", Password: "p@ss:w/rd"})
			scheme := map[bool]string{false: "smtp", true: "smtps"}[implicit]
			p := newSMTP(t, scheme+"://relay-user:p%40ss%3Aw%2Frd@"+f.Addr(), cert.Pool)
			if err := p.Send(t.Context(), testMessage, "key-tls"); err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkDelivered(t, f.Accepted(), "")
		})
	}
}

func TestSMTPWrongPasswordIsPermanent(t *testing.T) {
	t.Parallel()
	f := smtptest.Start(t, &smtptest.Relay{User: "relay-user", Password: "right-password"})
	err := newSMTP(t, "smtp://relay-user:wrong-password@"+f.Addr()+"?starttls=off", nil).Send(t.Context(), testMessage, "key-1")
	if !mail.IsPermanent(err) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Send() = %v, want a permanent error with the 535 reply", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error %q repeats the password", err)
	}
}

func TestSMTPStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"GREETING", "RCPT", "END"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			f := smtptest.Start(t, &smtptest.Relay{Hang: step})
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := newSMTP(t, "smtp://"+f.Addr()+"?starttls=off", nil).Send(ctx, testMessage, "key-1")
			if kind(err) != "temporary" || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send() = %v, want a temporary deadline error", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send took %s with a 300ms deadline", took)
			}
		})
	}
}

func TestSMTPRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, rawURL := range []string{
		"", "smtp://", "http://u:hunter2@relay.example.com", "smtp://u:hunter2@relay.example.com:0",
		"smtp://u:hunter2@relay.example.com:99999", "smtp://u:hunter2@relay.example.com/path",
		"smtps://u:hunter2@relay.example.com?starttls=off", "smtp://u:hunter2@relay.example.com?tls=maybe",
		"smtp://u:hunter2@relay.example.com?starttls=on", "smtp://u:hunter2@[::1",
	} {
		_, err := mail.NewSMTPProvider(rawURL, nil)
		if err == nil {
			t.Errorf("NewSMTPProvider(%q) accepted", rawURL)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewSMTPProvider(%q): error %q repeats the password", rawURL, err)
		}
	}
}
