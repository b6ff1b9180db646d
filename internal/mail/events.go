package mail

import (
	"context"
	"log/slog"
	"net/http"
)

// EventWebhook posts account events to the rest of the product (EVENTS_WEBHOOK_URL) with the
// transport and signature of the webhook email provider: Standard Webhooks headers, no
// redirect followed, the same classification of answers.
type EventWebhook struct {
	http httpSender
	key  []byte
}

// NewEventWebhook returns an EventWebhook posting to rawURL, signed under secret ("whsec_" +
// base64 of 24 to 64 bytes). A nil client means a plain http.Client: the timeout comes from
// the context passed to Post. It fails with an error that does not repeat the value when
// rawURL is not an http(s) URL or secret is malformed.
func NewEventWebhook(rawURL, secret string, client *http.Client, logger *slog.Logger) (*EventWebhook, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return nil, err
	}
	s, err := newHTTPSender("events webhook", rawURL, client, logger, http.StatusRequestTimeout, http.StatusTooManyRequests)
	if err != nil {
		return nil, err
	}
	return &EventWebhook{http: s, key: key}, nil
}

// Post posts body, an event encoded as JSON, with id as its webhook-id (the same on every
// attempt of one event, so that a receiver deduplicates on it). It returns nil for any 2xx, a
// *PermanentError for 410 and any other 4xx but 408 and 429, and otherwise a temporary error
// (a *ThrottledError when Retry-After names a delay).
func (w *EventWebhook) Post(ctx context.Context, body []byte, id string) error {
	return postSigned(ctx, w.http, w.key, body, id, w.http.now().UTC())
}
