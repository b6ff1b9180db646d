package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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

// httpSender POSTs to one fixed URL and classifies the answer; the HTTP providers share it.
type httpSender struct {
	name   string // the provider, in errors and logs
	url    string
	host   string // the only part of url that errors name: its path or query may hold a token
	client *http.Client
	logger *slog.Logger
	now    func() time.Time
	// retryable4xx are the 4xx statuses worth retrying; every other 4xx is permanent.
	retryable4xx []int
}

// newHTTPSender checks rawURL and returns a sender that never follows a redirect: the email
// and its code go to no host but the configured one.
func newHTTPSender(name, rawURL string, client *http.Client, logger *slog.Logger, retryable4xx ...int) (httpSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never echo the value: it may hold a password or a token.
		return httpSender{}, errors.New("want an http:// or https:// URL")
	}
	if client == nil {
		// A transport of its own: http.DefaultTransport's idle connections are closed by any
		// code in the process that calls CloseIdleConnections on it (httptest.Server.Close
		// does), which would break a send in flight on a reused connection.
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return httpSender{
		name: name, url: rawURL, host: u.Host, client: &noRedirect, logger: logger,
		now: time.Now, retryable4xx: retryable4xx,
	}, nil
}

// post sends body with header. Any 2xx is an acceptance: when odd reports a problem with the
// answer (or it could not be read), that is logged and the email still counts as accepted,
// since the provider may already be delivering it.
func (s httpSender) post(ctx context.Context, body []byte, header http.Header, odd func(answer []byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s request: %w", s.name, s.redact(err))
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s send: %w", s.name, s.redact(err))
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return s.classify(resp, answer)
	}
	if readErr == nil && len(answer) > maxAnswerBytes {
		readErr = fmt.Errorf("answer longer than %d bytes", maxAnswerBytes)
	}
	if readErr == nil && odd != nil {
		readErr = odd(answer)
	}
	if readErr != nil {
		// The answer itself is not logged: a provider that echoes the request would put the
		// code in the logs.
		s.logger.Warn("email provider accepted the email with an unexpected answer; not retried",
			"provider", s.name, "status", resp.StatusCode, "answer_bytes", len(answer),
			"content_type", resp.Header.Get("Content-Type"), "problem", readErr.Error())
	}
	return nil
}

// classify turns a non-2xx answer into Send's result: a redirect, a retryable 4xx and 5xx
// are temporary (throttled when Retry-After names a delay), any other 4xx is permanent.
func (s httpSender) classify(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	err := fmt.Errorf("%s answered %d: %s", s.name, code, reason(answer))
	switch {
	case code >= 300 && code < 400:
		// A redirect is a moved endpoint or an http→https upgrade: an operator fixes the URL,
		// and meanwhile the email waits, as for an outage, instead of being given up on.
		return fmt.Errorf("%s answered %d, a redirect to %s, which is never followed", s.name, code, locationHost(resp))
	case code >= 400 && code < 500 && !slices.Contains(s.retryable4xx, code):
		return &PermanentError{Err: err}
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), s.now()); ok {
		return &ThrottledError{Err: err, RetryAfter: d}
	}
	return err
}

// redact keeps the URL of a request error to its host, and the error chain (a deadline, a
// refused connection) intact.
func (s httpSender) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: s.host, Err: ue.Err}
	}
	return errors.New("invalid request")
}

// locationHost names where a redirect pointed, by host only.
func locationHost(resp *http.Response) string {
	u, err := resp.Location()
	if err != nil || u.Host == "" {
		return "(no usable Location)"
	}
	return strconv.Quote(u.Host)
}

// reason extracts the provider's message from an answer, {"Error": "..."} or plain text,
// flattened to one line and truncated.
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
