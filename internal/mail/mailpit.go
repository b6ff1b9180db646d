package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
)

// mailpitProvider sends through Mailpit's HTTP send API (POST /api/v1/send).
type mailpitProvider struct{ http httpSender }

// NewMailpitProvider returns a Provider that POSTs each email to {baseURL}/api/v1/send. A nil
// client means a plain http.Client: the timeout comes from the context passed to Send. A
// redirect is never followed, whatever client says. logger (nil for none) receives a warning
// when Mailpit accepts an email with an answer that is not its usual one.
//
// Every request carries an Idempotency-Key header, and a Message-ID derived from the key, so
// that a Mailpit started with --ignore-duplicate-ids stores a retried email once. Send returns
// nil for any 2xx; a *PermanentError carrying Mailpit's message for a 4xx other than 408, 425
// and 429; and otherwise a temporary error (a *ThrottledError when Retry-After names a delay):
// for those three, 5xx, redirects, network failures and timeouts. It fails with an error when
// baseURL is not an http(s) URL.
func NewMailpitProvider(baseURL string, client *http.Client, logger *slog.Logger) (Provider, error) {
	s, err := newHTTPSender("mailpit", strings.TrimRight(baseURL, "/")+"/api/v1/send", client, logger,
		http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests)
	if err != nil {
		return nil, err
	}
	return &mailpitProvider{http: s}, nil
}

// mailpitAddress and mailpitSendRequest follow Mailpit's send API body.
type mailpitAddress struct {
	Name  string `json:"Name,omitempty"`
	Email string `json:"Email"`
}

type mailpitSendRequest struct {
	From    mailpitAddress    `json:"From"`
	To      []mailpitAddress  `json:"To"`
	Subject string            `json:"Subject"`
	Text    string            `json:"Text"`
	HTML    string            `json:"HTML,omitempty"`
	Headers map[string]string `json:"Headers,omitempty"`
}

func (p *mailpitProvider) Send(ctx context.Context, m Message, idempotencyKey string) error {
	body, err := json.Marshal(newSendRequest(m, idempotencyKey))
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("encode mailpit request: %w", err)}
	}
	header := http.Header{
		"Content-Type":    {"application/json"},
		"Accept":          {"application/json"},
		"Idempotency-Key": {idempotencyKey},
	}
	return p.http.post(ctx, body, header, mailpitAnswer)
}

func newSendRequest(m Message, idempotencyKey string) mailpitSendRequest {
	from := mailpitAddress{Email: m.From}
	if a, err := mail.ParseAddress(m.From); err == nil {
		from = mailpitAddress{Name: a.Name, Email: a.Address}
	}
	return mailpitSendRequest{
		From:    from,
		To:      []mailpitAddress{{Email: m.To}},
		Subject: m.Subject,
		Text:    m.Text,
		HTML:    m.HTML,
		Headers: map[string]string{"Message-ID": messageID(idempotencyKey)},
	}
}

// mailpitAnswer reports whether answer is Mailpit's {"ID": "..."}. The ID may be empty:
// Mailpit answers so when it ignored a duplicate Message-ID.
func mailpitAnswer(answer []byte) error {
	var a struct{ ID *string }
	if json.Unmarshal(answer, &a) != nil || a.ID == nil {
		return errors.New(`the answer is not Mailpit's {"ID": ...}`)
	}
	return nil
}
