package mail_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/mail/mailpittest"
	"github.com/regapi/regapi/internal/registration"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// uniqueRecipient keeps tests apart in a Mailpit shared with other tests.
func uniqueRecipient() string {
	return "mail-test-" + strings.ToLower(rand.Text()) + "@example.com"
}

func TestMailpitRealServer(t *testing.T) {
	t.Parallel()
	base := mailpittest.URL(t)
	e := registration.Email{Kind: registration.EmailActivationCode, To: uniqueRecipient(), Code: "0815", ValidFor: time.Minute}
	m := mail.Message{
		From: "regapi <no-reply@regapi.local>", To: e.To, Subject: "Your regapi activation code",
		Text: "Your regapi activation code is:\n\n    " + e.Code + "\n\nIt is valid for 1 minute.\n",
		HTML: "<p>Your regapi activation code is <b>" + e.Code + "</b>.</p>",
		Code: e.Code, ValidFor: e.ValidFor,
	}
	p := newMailpit(t, base)
	// A retry carries the same idempotency key and Message-ID.
	for attempt := range 2 {
		if err := p.Send(t.Context(), m, "outbox-"+e.To); err != nil {
			t.Fatalf("Send attempt %d: %v", attempt+1, err)
		}
	}

	got, err := mailpittest.Messages(t.Context(), base, e.To)
	if err != nil || len(got) == 0 {
		t.Fatalf("reading the email back: %d messages, %v", len(got), err)
	}
	var ui struct{ DuplicatesIgnored bool }
	getJSON(t, base+"/api/v1/webui", &ui)
	if ui.DuplicatesIgnored && len(got) != 1 {
		t.Errorf("Mailpit ignores duplicate Message-IDs but stored the retried email %d times", len(got))
	}
	msg := got[0]
	if len(msg.To) != 1 || msg.To[0].Address != e.To {
		t.Errorf("To = %+v, want %s", msg.To, e.To)
	}
	if msg.From.Address != "no-reply@regapi.local" || msg.Subject != m.Subject {
		t.Errorf("From = %+v, Subject = %q", msg.From, msg.Subject)
	}
	if !strings.Contains(msg.Text, e.Code) {
		t.Errorf("delivered text lacks the code:\n%s", msg.Text)
	}
	if !strings.Contains(msg.HTML, e.Code) {
		t.Errorf("delivered HTML lacks the code:\n%s", msg.HTML)
	}
}

func TestMailpitRealServerRejectsBadAddress(t *testing.T) {
	t.Parallel()
	base := mailpittest.URL(t)
	m := testMessage
	m.To = "not an address"
	err := newMailpit(t, base).Send(t.Context(), m, "outbox-bad-address")
	if !mail.IsPermanent(err) {
		t.Fatalf("Send() = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "invalid To address") {
		t.Errorf("error %q does not carry Mailpit's message", err)
	}
}
