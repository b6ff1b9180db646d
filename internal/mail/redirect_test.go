package mail_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/regapi/regapi/internal/mail"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// httpProviders builds each HTTP provider against base, logging to logs.
var httpProviders = map[string]func(t *testing.T, base string, logs *bytes.Buffer) mail.Provider{
	"mailpit": func(t *testing.T, base string, logs *bytes.Buffer) mail.Provider {
		p, err := mail.NewMailpitProvider(base, nil, slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	},
	"webhook": func(t *testing.T, base string, logs *bytes.Buffer) mail.Provider {
		p, err := mail.NewWebhookProvider(base+"/hook", testWebhookSecret, nil, slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	},
}

// TestHTTPProvidersNeverFollowRedirects: a redirect from the provider is a failed attempt,
// kept for a retry, and the email never reaches the host the Location names.
func TestHTTPProvidersNeverFollowRedirects(t *testing.T) {
	t.Parallel()
	for name, build := range httpProviders {
		for _, status := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", name, status), func(t *testing.T) {
				t.Parallel()
				var elsewhere atomic.Int32
				other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					elsewhere.Add(1)
					_, _ = w.Write([]byte(`{"ID":"stolen"}`))
				}))
				t.Cleanup(other.Close)
				provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other.URL+"/collect?token=t0ps3cret", status)
				}))
				t.Cleanup(provider.Close)

				err := build(t, provider.URL, &bytes.Buffer{}).Send(t.Context(), testMessage, "key-1")
				if kind(err) != "temporary" || !strings.Contains(err.Error(), fmt.Sprint(status)) ||
					!strings.Contains(err.Error(), "redirect") {
					t.Fatalf("Send() = %v, want a temporary error naming the redirect", err)
				}
				if strings.Contains(err.Error(), "t0ps3cret") || strings.Contains(err.Error(), "/collect") {
					t.Errorf("error %q repeats the Location beyond its host", err)
				}
				if n := elsewhere.Load(); n != 0 {
					t.Errorf("the redirect target received %d requests", n)
				}
			})
		}
	}
}

// answerMark marks a provider's answer, to find it repeated in a log. Letters: a number this
// short turns up in a log line's timestamp now and then.
const answerMark = "provider-answer-qzx"

// TestHTTPProvidersAcceptAnyTwoXX: whatever body comes with a 2xx, the email is accepted
// (sent once, not retried) and the odd answer is logged without its content.
func TestHTTPProvidersAcceptAnyTwoXX(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"malformed json": `{"ID":`, "html": "<html>proxy " + answerMark + "</html>", "empty": "",
		"huge": strings.Repeat("x", 100_000),
	}
	for name, build := range httpProviders {
		for bodyName, body := range bodies {
			for _, status := range []int{200, 201, 202, 204} {
				t.Run(fmt.Sprintf("%s/%s/%d", name, bodyName, status), func(t *testing.T) {
					t.Parallel()
					var requests atomic.Int32
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						requests.Add(1)
						w.WriteHeader(status)
						_, _ = w.Write([]byte(body))
					}))
					t.Cleanup(srv.Close)
					var logs bytes.Buffer
					if err := build(t, srv.URL, &logs).Send(t.Context(), testMessage, "key-1"); err != nil {
						t.Fatalf("Send() = %v, want nil for a %d", err, status)
					}
					if n := requests.Load(); n != 1 {
						t.Errorf("%d requests, want 1", n)
					}
					if strings.Contains(logs.String(), answerMark) {
						t.Errorf("the log repeats the answer: %s", logs.String())
					}
				})
			}
		}
	}
}
