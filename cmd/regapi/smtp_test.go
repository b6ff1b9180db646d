package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// TestRegisterActivateThroughMailpitSMTP runs regapi with MAIL_PROVIDER=smtp against real
// Mailpit's SMTP listener: the code read back through Mailpit's API activates the account.
// (AUTH and TLS against real Mailpit are the mail package's tests; a shared Mailpit, as in
// the compose test service, has neither.)
func TestRegisterActivateThroughMailpitSMTP(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t)
	env := baseEnv(t)
	env["MAIL_PROVIDER"] = "smtp"
	env["SMTP_URL"] = "smtp://" + mp.SMTPAddr + "?starttls=off"
	a := startApp(t, env)
	email, pass := uniqueEmail("smtp"), "correct horse battery"
	a.register(t, email, pass).want(t, http.StatusCreated, "")

	code := mailpittest.WaitForCode(t, mp.URL, email, 1, 10*time.Second)
	msgs, err := mailpittest.Messages(t.Context(), mp.URL, email)
	if err != nil || len(msgs) != 1 || msgs[0].MessageID == "" || msgs[0].HTML == "" {
		t.Fatalf("email: %+v, %v", msgs, err)
	}
	a.activate(t, email, pass, code).want(t, http.StatusOK, "")
}

// TestRegisterActivateThroughWebhook runs regapi with MAIL_PROVIDER=webhook against a
// receiver that accepts only events the Standard Webhooks library verifies: the code in the
// event activates the account.
func TestRegisterActivateThroughWebhook(t *testing.T) {
	t.Parallel()
	verifier, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		Type string
		Data struct {
			To, Subject, Text, Code string
			ExpiresIn               int `json:"expires_in_seconds"`
		}
	}
	var mu sync.Mutex
	var events []event
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var e event
		if err := verifier.Verify(body, r.Header); err != nil || json.Unmarshal(body, &e) != nil {
			http.Error(w, "unverified", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = "webhook", receiver.URL+"/hooks/regapi", testWebhookSecret
	a := startApp(t, env)
	email, pass := uniqueEmail("webhook"), "correct horse battery"
	a.register(t, email, pass).want(t, http.StatusCreated, "")

	waitUntil(t, 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0, "no verified event"
	})
	mu.Lock()
	e := events[0]
	mu.Unlock()
	if e.Type != "activation_code.created" || e.Data.To != email || e.Data.ExpiresIn != 60 || e.Data.Subject == "" {
		t.Fatalf("event %+v", e)
	}
	if codeInText.FindString(e.Data.Text) != e.Data.Code {
		t.Errorf("text %q does not carry the code %s", e.Data.Text, e.Data.Code)
	}
	a.activate(t, email, pass, e.Data.Code).want(t, http.StatusOK, "")
}
