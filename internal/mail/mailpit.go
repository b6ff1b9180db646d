package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// maxAnswerBytes bounds how much of an answer is read: a misbehaving provider must not
	// make the dispatcher buffer an unbounded body.
	maxAnswerBytes = 64 << 10
	// maxReasonRunes bounds the provider's message kept in an error, which ends up in logs
	// and in the outbox row.
	maxReasonRunes = 200
	// maxRetryAfter caps a provider's Retry-After, so that a bogus header cannot park an
	// email for days.
	maxRetryAfter = time.Hour
)

// mailpitProvider sends through Mailpit's HTTP send API (POST /api/v1/send).
type mailpitProvider struct {
	sendURL string
	client  *http.Client
	now     func() time.Time
}

// NewMailpitProvider returns a Provider that POSTs each email to {baseURL}/api/v1/send. A nil
// client means a plain http.Client: the timeout comes from the context passed to Send.
//
// Every request carries an Idempotency-Key header, and a Message-ID derived from the key, so
// that a Mailpit started with --ignore-duplicate-ids stores a retried email once. Send returns
// nil for a 2xx with a well-formed answer; a *ThrottledError for 429 or 503 with Retry-After; a
// *PermanentError carrying Mailpit's message for any other 4xx except 408 and 425; and a
// temporary error for those two, other 429/5xx answers, network failures, timeouts and a 2xx
// whose body is not Mailpit's answer.
func NewMailpitProvider(baseURL string, client *http.Client) Provider {
	if client == nil {
		client = &http.Client{}
	}
	return &mailpitProvider{
		sendURL: strings.TrimRight(baseURL, "/") + "/api/v1/send",
		client:  client,
		now:     time.Now,
	}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.sendURL, bytes.NewReader(body))
	if err != nil {
		// A bad MAILPIT_URL is fixed by a redeploy: keep the email for then.
		return fmt.Errorf("mailpit request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit send: %w", err)
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	return p.classify(resp, answer, readErr)
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

// messageID derives a valid Message-ID from any idempotency key, the same on every attempt.
func messageID(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return "<" + hex.EncodeToString(sum[:16]) + "@regapi>"
}

// classify turns Mailpit's answer into Send's result.
func (p *mailpitProvider) classify(resp *http.Response, answer []byte, readErr error) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if readErr != nil {
			return fmt.Errorf("mailpit answered %d, reading the answer: %w", code, readErr)
		}
		if !wellFormedAnswer(answer) {
			return fmt.Errorf("mailpit answered %d with a malformed body: %s", code, reason(answer))
		}
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		err := statusError(code, answer)
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), p.now()); ok {
			return &ThrottledError{Err: err, RetryAfter: d}
		}
		return err
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return statusError(code, answer)
	case code >= 400:
		return &PermanentError{Err: statusError(code, answer)}
	}
	return fmt.Errorf("mailpit answered unexpected status %d", code)
}

// wellFormedAnswer reports whether answer is Mailpit's {"ID": "..."}. The ID may be empty:
// Mailpit answers so when it ignored a duplicate Message-ID, which is a success.
func wellFormedAnswer(answer []byte) bool {
	if len(answer) > maxAnswerBytes {
		return false
	}
	var a struct{ ID *string }
	return json.Unmarshal(answer, &a) == nil && a.ID != nil
}

func statusError(code int, answer []byte) error {
	return fmt.Errorf("mailpit answered %d: %s", code, reason(answer))
}

// reason extracts the provider's message from an answer, Mailpit's {"Error": "..."} or plain
// text, flattened to one line and truncated.
func reason(answer []byte) string {
	answer = answer[:min(len(answer), maxAnswerBytes)]
	var e struct{ Error string }
	msg := string(answer)
	if json.Unmarshal(answer, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Join(strings.FieldsFunc(msg, unicode.IsControl), " ")
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return "(empty answer)"
	}
	if utf8.RuneCountInString(msg) > maxReasonRunes {
		msg = string([]rune(msg)[:maxReasonRunes]) + "…"
	}
	return msg
}

// parseRetryAfter reads a Retry-After header, delay-seconds or an HTTP date, as a delay from
// now capped at maxRetryAfter. It reports false when there is no usable header.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}
