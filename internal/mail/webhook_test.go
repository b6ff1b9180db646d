package mail_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regapi/regapi/internal/mail"
)

// TestWebhookEventIsVerifiedByStandardWebhooks posts one email to a receiver that checks it
// with the specification's own Go library, then reads the event as the contract defines it.
func TestWebhookEventIsVerifiedByStandardWebhooks(t *testing.T) {
	t.Parallel()
	verifier, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		header http.Header
		body   []byte
		verify error
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.header = r.Header.Clone()
		got.body, _ = io.ReadAll(r.Body)
		got.verify = verifier.Verify(got.body, r.Header)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	p, err := mail.NewWebhookProvider(srv.URL+"/hooks/regapi", testWebhookSecret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage
	m.Code, m.ValidFor = "0427", time.Minute
	const key = "6f1c2a4e-8d0b-4c39-9a57-0e2f3b1d5c77"
	if err := p.Send(t.Context(), m, key); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got.verify != nil {
		t.Fatalf("Standard Webhooks verifier: %v", got.verify)
	}
	if got.header.Get("webhook-id") != key || got.header.Get("Idempotency-Key") != key {
		t.Errorf("webhook-id %q, Idempotency-Key %q, want %s", got.header.Get("webhook-id"), got.header.Get("Idempotency-Key"), key)
	}
	ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q", got.header.Get("webhook-timestamp"))
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	checkEvent(t, got.body, m)
}

func checkEvent(t *testing.T, body []byte, m mail.Message) {
	t.Helper()
	var event map[string]any
	if err := json.Unmarshal(body, &event); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	data, _ := event["data"].(map[string]any)
	if len(event) != 3 || event["type"] != "activation_code.created" || len(data) != 6 {
		t.Fatalf("event %s, want exactly type, timestamp and data with six members", body)
	}
	if at, err := time.Parse(time.RFC3339, event["timestamp"].(string)); err != nil || time.Since(at).Abs() > time.Minute {
		t.Errorf("timestamp %v: %v", event["timestamp"], err)
	}
	want := map[string]any{"to": m.To, "subject": m.Subject, "text": m.Text, "html": m.HTML, "code": m.Code, "expires_in_seconds": 60.0}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %#v, want %#v", k, data[k], v)
		}
	}
}

// TestWebhookSignatureFailsUnderAnotherSecret: the verifier must not accept any signature.
func TestWebhookSignatureFailsUnderAnotherSecret(t *testing.T) {
	t.Parallel()
	verifier, err := standardwebhooks.NewWebhook("whsec_" + strings.Repeat("QUJD", 8))
	if err != nil {
		t.Fatal(err)
	}
	var verifyErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verifyErr = verifier.Verify(body, r.Header)
	}))
	t.Cleanup(srv.Close)
	p, err := mail.NewWebhookProvider(srv.URL, testWebhookSecret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), testMessage, "key-1"); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(verifyErr, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("verify under another secret = %v, want no matching signature", verifyErr)
	}
}

func TestWebhookClassifiesAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		header   []string
		want     string
		minDelay time.Duration
	}{
		{200, nil, "ok", 0}, {204, nil, "ok", 0},
		{400, nil, "permanent", 0}, {401, nil, "permanent", 0}, {404, nil, "permanent", 0},
		{410, nil, "permanent", 0}, {422, nil, "permanent", 0}, {425, nil, "permanent", 0},
		{408, nil, "temporary", 0}, {429, nil, "temporary", 0}, {500, nil, "temporary", 0},
		{502, nil, "temporary", 0}, {504, nil, "temporary", 0},
		{429, []string{"Retry-After", "30"}, "throttled", 30 * time.Second},
		{503, []string{"Retry-After", "5"}, "throttled", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+strings.Join(tt.header, "="), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			p, err := mail.NewWebhookProvider(rec.serve(t, answer(tt.status, "receiver says no", tt.header...)), testWebhookSecret, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Send(t.Context(), testMessage, "key-1")
			if got := kind(err); got != tt.want {
				t.Fatalf("Send() = %v (%s), want %s", err, got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("error %q does not name the status", err)
			}
			var th *mail.ThrottledError
			if errors.As(err, &th) && th.RetryAfter != tt.minDelay {
				t.Errorf("RetryAfter = %s, want %s", th.RetryAfter, tt.minDelay)
			}
		})
	}
}

func TestWebhookRejectsBadSettings(t *testing.T) {
	t.Parallel()
	const hidden = "s3cr3t-value"
	for _, tt := range []struct{ url, secret string }{
		{"https://hooks.example.com/", ""},
		{"https://hooks.example.com/", hidden},
		{"https://hooks.example.com/", "whsec_" + hidden},
		{"https://hooks.example.com/", "whsec_c2hvcnQ="}, // 5 bytes: too short
		{"ftp://user:" + hidden + "@example.com/", testWebhookSecret},
		{"hooks.example.com/" + hidden, testWebhookSecret},
	} {
		_, err := mail.NewWebhookProvider(tt.url, tt.secret, nil, nil)
		if err == nil {
			t.Errorf("NewWebhookProvider(%q, %q) accepted", tt.url, tt.secret)
			continue
		}
		if strings.Contains(err.Error(), hidden) {
			t.Errorf("error %q repeats the setting", err)
		}
	}
}
