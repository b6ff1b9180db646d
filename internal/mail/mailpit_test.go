package mail_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
)

var testMessage = mail.Message{
	Kind:    "activation_code",
	From:    "regapi <no-reply@regapi.local>",
	To:      "alice@example.com",
	Subject: "Your regapi activation code",
	Text:    "code 0427",
	HTML:    "<p>code 0427</p>",
}

// recorder is a fake Mailpit that answers with a fixed response and keeps what it received.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []map[string]any
}

func (rec *recorder) serve(t *testing.T, answer http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, r)
		rec.bodies = append(rec.bodies, body)
		rec.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// got returns what the fake received so far.
func (rec *recorder) got() ([]*http.Request, []map[string]any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.requests, rec.bodies
}

func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestMailpitSendClassifiesAnswers(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		answer    http.HandlerFunc
		want      string // "ok", "temporary", "permanent" or "throttled"
		minDelay  time.Duration
		inMessage string
	}{
		{"accepted", answer(200, `{"ID":"iAfZVVe2UQfNSG5BAjgYwa"}`), "ok", 0, ""},
		{"duplicate ignored", answer(200, `{"ID":""}`), "ok", 0, ""},
		{"server error", answer(500, "boom"), "temporary", 0, "500"},
		{"bad gateway", answer(502, ""), "temporary", 0, "502"},
		{"request timeout", answer(408, ""), "temporary", 0, "408"},
		{"too early", answer(425, ""), "temporary", 0, "425"},
		{"429 without Retry-After", answer(429, ""), "temporary", 0, "429"},
		{"429 Retry-After seconds", answer(429, "", "Retry-After", "30"), "throttled", 30 * time.Second, "429"},
		{"503 Retry-After date", answer(503, "", "Retry-After", httpDate), "throttled", 100 * time.Second, "503"},
		{"429 absurd Retry-After", answer(429, "", "Retry-After", "99999999999999999999"), "throttled", time.Hour, "429"},
		{"bad request", answer(400, `{"Error":"invalid To address: x"}`), "permanent", 0, "invalid To address: x"},
		{"unauthorized text", answer(401, "no\nauth"), "permanent", 0, "no auth"},
		{"long rejection", answer(422, strings.Repeat("x", 10_000)), "permanent", 0, "…"},
		// Any 2xx is an acceptance, whatever its body: the provider may be delivering it.
		{"malformed json", answer(200, `{"ID":`), "ok", 0, ""},
		{"html instead of json", answer(200, `<html>proxy</html>`), "ok", 0, ""},
		{"null answer", answer(200, `null`), "ok", 0, ""},
		{"huge answer", answer(200, `{"ID":"`+strings.Repeat("a", 100_000)+`"}`), "ok", 0, ""},
		{"500 Retry-After", answer(500, "", "Retry-After", "7"), "throttled", 7 * time.Second, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			p := newMailpit(t, rec.serve(t, tt.answer)+"/")
			err := p.Send(t.Context(), testMessage, "key-1")
			if got := kind(err); got != tt.want {
				t.Fatalf("Send() = %v (%s), want %s", err, got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.inMessage) {
				t.Errorf("error %q does not mention %q", err, tt.inMessage)
			}
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long, want it truncated", len(err.Error()))
			}
			var th *mail.ThrottledError
			if errors.As(err, &th) && (th.RetryAfter < tt.minDelay || th.RetryAfter > time.Hour) {
				t.Errorf("RetryAfter = %s, want between %s and 1h", th.RetryAfter, tt.minDelay)
			}
		})
	}
}

func newMailpit(t *testing.T, base string) mail.Provider {
	t.Helper()
	p, err := mail.NewMailpitProvider(base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kind(err error) string {
	var th *mail.ThrottledError
	switch {
	case err == nil:
		return "ok"
	case mail.IsPermanent(err):
		return "permanent"
	case errors.As(err, &th):
		return "throttled"
	}
	return "temporary"
}

func TestMailpitSendRequest(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := newMailpit(t, rec.serve(t, answer(200, `{"ID":"x"}`)))
	for range 2 {
		if err := p.Send(t.Context(), testMessage, "key-42"); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := p.Send(t.Context(), testMessage, "key-43"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	requests, bodies := rec.got()
	r := requests[0]
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/send" {
		t.Errorf("request = %s %s, want POST /api/v1/send", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	for i, want := range []string{"key-42", "key-42", "key-43"} {
		if got := requests[i].Header.Get("Idempotency-Key"); got != want {
			t.Errorf("request %d Idempotency-Key = %q, want %q", i, got, want)
		}
	}
	body := bodies[0]
	from, _ := body["From"].(map[string]any)
	to, _ := body["To"].([]any)
	if from["Email"] != "no-reply@regapi.local" || from["Name"] != "regapi" {
		t.Errorf("From = %v", body["From"])
	}
	if len(to) != 1 || to[0].(map[string]any)["Email"] != "alice@example.com" {
		t.Errorf("To = %v", body["To"])
	}
	if body["Subject"] != testMessage.Subject || body["Text"] != testMessage.Text || body["HTML"] != testMessage.HTML {
		t.Errorf("body = %v", body)
	}
	id := func(i int) any { return bodies[i]["Headers"].(map[string]any)["Message-ID"] }
	if id(0) != id(1) || id(0) == id(2) {
		t.Errorf("Message-IDs %v %v %v: want equal for one key, different between keys", id(0), id(1), id(2))
	}
}

func TestMailpitSendTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := &recorder{}
	url := rec.serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := newMailpit(t, url).Send(ctx, testMessage, "key-1")
	if kind(err) != "temporary" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send() = %v, want a temporary deadline error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send took %s, want it cut at the deadline", elapsed)
	}
}

func TestMailpitSendUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := newMailpit(t, url).Send(t.Context(), testMessage, "key-1")
	if kind(err) != "temporary" {
		t.Fatalf("Send() = %v, want a temporary error", err)
	}
}
