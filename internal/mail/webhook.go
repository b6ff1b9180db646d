package mail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// webhookEventType is the type of the event that posts m: "<kind>.created" for an email
// that carries a code ("activation_code.created"), "<kind>.notice" for a notice
// ("password_changed.notice").
func webhookEventType(m Message) string {
	if m.Code != "" {
		return m.Kind + ".created"
	}
	return m.Kind + ".notice"
}

// webhookProvider posts each email as a signed Standard Webhooks event.
type webhookProvider struct {
	http httpSender
	key  []byte
}

// NewWebhookProvider returns a Provider that POSTs each email to rawURL as the JSON event
// {"type": "activation_code.created", "timestamp", "data": {"to", "subject", "text", "html",
// "code", "expires_in_seconds"}} (typed by its kind, see webhookEventType; a notice has no
// "code" nor "expires_in_seconds"), signed as the Standard Webhooks specification defines:
// headers webhook-id (the idempotency key, also sent as Idempotency-Key), webhook-timestamp
// and webhook-signature, an HMAC-SHA256 under secret ("whsec_" + base64 of 24 to 64 bytes).
//
// A nil client means a plain http.Client: the timeout comes from the context passed to Send.
// A redirect is never followed. Send returns nil for any 2xx (whatever the body), a
// *PermanentError for 410 and any other 4xx but 408 and 429, and otherwise a temporary error
// (a *ThrottledError when Retry-After names a delay). It fails with an error when rawURL is
// not an http(s) URL or secret is malformed; neither error repeats the value.
func NewWebhookProvider(rawURL, secret string, client *http.Client, logger *slog.Logger) (Provider, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return nil, err
	}
	s, err := newHTTPSender("webhook", rawURL, client, logger, http.StatusRequestTimeout, http.StatusTooManyRequests)
	if err != nil {
		return nil, err
	}
	return &webhookProvider{http: s, key: key}, nil
}

// CheckWebhookSecret reports, with an error that does not repeat it, whether secret is not a
// secret NewWebhookProvider accepts.
func CheckWebhookSecret(secret string) error {
	_, err := webhookKey(secret)
	return err
}

// webhookKey decodes a "whsec_" secret; the specification asks for 24 to 64 random bytes.
func webhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errors.New(`want "whsec_" followed by the base64 of 24 to 64 random bytes ` +
			"(e.g. whsec_$(openssl rand -base64 32))")
	}
	return key, nil
}

type webhookEvent struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	To               string `json:"to"`
	Subject          string `json:"subject"`
	Text             string `json:"text"`
	HTML             string `json:"html"`
	Code             string `json:"code,omitempty"`
	ExpiresInSeconds *int64 `json:"expires_in_seconds,omitempty"`
}

func (p *webhookProvider) Send(ctx context.Context, m Message, idempotencyKey string) error {
	// The attempt's time stands for the event's too: the code's lifetime starts when an
	// attempt is accepted.
	now := p.http.now().UTC()
	data := webhookData{To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Code: m.Code}
	if m.Code != "" {
		secs := int64(m.ValidFor / time.Second)
		data.ExpiresInSeconds = &secs
	}
	body, err := json.Marshal(webhookEvent{Type: webhookEventType(m), Timestamp: now.Format(time.RFC3339), Data: data})
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("encode webhook event: %w", err)}
	}
	return postSigned(ctx, p.http, p.key, body, idempotencyKey, now)
}

// postSigned posts body as a Standard Webhooks message: headers webhook-id (id, also sent as
// Idempotency-Key), webhook-timestamp (now) and webhook-signature under key.
func postSigned(ctx context.Context, s httpSender, key, body []byte, id string, now time.Time) error {
	timestamp := strconv.FormatInt(now.Unix(), 10)
	header := http.Header{
		"Content-Type":      {"application/json"},
		"Idempotency-Key":   {id},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {timestamp},
		"Webhook-Signature": {"v1," + sign(key, id, timestamp, body)},
	}
	return s.post(ctx, body, header, nil)
}

// sign is the specification's symmetric signature: base64 of HMAC-SHA256 under key over
// "{id}.{timestamp}.{body}".
func sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
