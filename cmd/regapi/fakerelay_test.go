package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regapi/regapi/internal/mail/smtptest"
)

// testWebhookSecret is the WEBHOOK_SECRET of the tests (the Standard Webhooks test vector's).
const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// transport puts a fakeProvider behind one provider's protocol: env points regapi at addr,
// serve answers there for f.
type transport struct {
	env   func(addr string) map[string]string
	serve func(t *testing.T, f *fakeProvider, ln net.Listener)
}

var transports = map[string]transport{
	"smtp": {
		env: func(addr string) map[string]string {
			return map[string]string{"MAIL_PROVIDER": "smtp", "SMTP_URL": "smtp://regapi:relay-pass@" + addr + "?starttls=off"}
		},
		serve: func(t *testing.T, f *fakeProvider, ln net.Listener) {
			smtpRelay(f, "regapi", "relay-pass").Serve(t, ln)
		},
	},
	"webhook": {
		env: func(addr string) map[string]string {
			return map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "http://" + addr + "/hooks/regapi", "WEBHOOK_SECRET": testWebhookSecret}
		},
		serve: func(t *testing.T, f *fakeProvider, ln net.Listener) {
			srv := &http.Server{Handler: webhookFront(t, f), ReadHeaderTimeout: 5 * time.Second}
			t.Cleanup(func() { _ = srv.Close() })
			go func() { _ = srv.Serve(ln) }()
		},
	},
}

// listen starts tr for f on a free port and returns regapi's settings for it.
func (tr transport) listen(t *testing.T, f *fakeProvider) map[string]string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr.serve(t, f, ln)
	return tr.env(ln.Addr().String())
}

// webhookFront verifies each event with the Standard Webhooks library and hands f the email
// in the shape f reads, keyed by webhook-id.
func webhookFront(t *testing.T, f *fakeProvider) http.Handler {
	verifier, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var event struct{ Data struct{ To, Text string } }
		if err := verifier.Verify(body, r.Header); err != nil || json.Unmarshal(body, &event) != nil {
			http.Error(w, fmt.Sprintf("rejected: %v", err), http.StatusUnauthorized)
			return
		}
		req := r.Clone(r.Context())
		req.URL.Path = "/api/v1/send"
		req.Header.Set("Idempotency-Key", r.Header.Get("webhook-id"))
		req.Body = io.NopCloser(bytes.NewReader(mailpitShape(event.Data.To, event.Data.Text)))
		f.serve(retryAfterOn429{w}, req)
	})
}

func mailpitShape(to, text string) []byte {
	b, _ := json.Marshal(map[string]any{"To": []map[string]string{{"Email": to}}, "Text": text})
	return b
}

// smtpRelay is an SMTP relay in front of f, requiring AUTH with user and pass: each message
// goes to f keyed by its Message-ID, and f's status becomes the reply (2xx accepted,
// 408/429/5xx a 451, any other 4xx a 554). The request ends when the client hangs up.
func smtpRelay(f *fakeProvider, user, pass string) *smtptest.Relay {
	return &smtptest.Relay{User: user, Password: pass, Deliver: func(ctx context.Context, raw []byte) string {
		key, to, text, err := parseEmail(raw)
		if err != nil {
			return "554 5.6.0 unreadable message: " + err.Error()
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/send", bytes.NewReader(mailpitShape(to, text)))
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		f.serve(rec, req)
		switch code := rec.Code; {
		case code >= 200 && code <= 299:
			return "250 2.0.0 queued"
		case code == 408 || code == 429 || code >= 500:
			return fmt.Sprintf("451 4.3.0 provider trouble (%d)", code)
		default:
			return fmt.Sprintf("554 5.7.1 provider trouble (%d)", code)
		}
	}}
}

// parseEmail reads the Message-ID, the recipient and the plain-text part of a message.
func parseEmail(raw []byte) (key, to, text string, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", "", err
	}
	addr, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		return "", "", "", err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", "", "", err
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextPart()
		if err != nil {
			return "", "", "", fmt.Errorf("no text part: %w", err)
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(part)
			return msg.Header.Get("Message-ID"), addr.Address, string(b), err
		}
	}
}
