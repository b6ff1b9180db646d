package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		authorization string // the header; empty sends none
		status        int
		authCalls     int    // how often the service was asked
		wantGot       string // the credentials the service received
	}{
		{"password with colons", basicHeader(testEmail + ":" + testPassword), 200, 1, "authenticate|" + testEmail + "|" + testPassword},
		{"lower-case scheme", strings.Replace(basicHeader(testEmail+":"+testPassword), "Basic", "basic", 1), 200, 1, ""},
		{"email passed on as sent", basicHeader(" ALICE@example.com:" + testPassword), 401, 1, "authenticate| ALICE@example.com|" + testPassword},
		{"wrong password", basicHeader(testEmail + ":nope"), 401, 1, ""},
		{"empty password", basicHeader(testEmail + ":"), 401, 1, ""},
		{"missing header", "", 401, 0, ""},
		{"not Basic", "Bearer " + testPassword, 401, 0, ""},
		{"scheme only", "Basic", 401, 0, ""},
		{"bad base64", "Basic !!!not-base64!!!", 401, 0, ""},
		{"no colon", basicHeader(testEmail), 401, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			r := jsonRequest("GET", "/v1/users/me", "")
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			resp := s.do(r)
			if tt.status == http.StatusOK {
				readJSON(t, resp, tt.status)
			} else {
				readProblem(t, resp, tt.status, "unauthorized")
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="regapi", charset="UTF-8"` {
					t.Fatalf("WWW-Authenticate = %q", got)
				}
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control = %q, want no-store", got)
			}
			calls, got := s.accounts.calls()
			if calls != tt.authCalls {
				t.Fatalf("Authenticate called %d times, want %d", calls, tt.authCalls)
			}
			if tt.wantGot != "" && got[0] != tt.wantGot {
				t.Fatalf("Authenticate got %q, want %q", got[0], tt.wantGot)
			}
		})
	}
}

func TestEveryUserEndpointRequiresAuth(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"GET /v1/users/me", "POST /v1/users/me/activate", "POST /v1/users/me/activation-code"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			method, path, _ := strings.Cut(target, " ")
			resp := s.do(jsonRequest(method, path, `{"code":"`+testCode+`"}`))
			readProblem(t, resp, http.StatusUnauthorized, "unauthorized")
			if _, got := s.accounts.calls(); len(got) != 0 {
				t.Fatalf("the service was called: %q", got)
			}
		})
	}
}

func TestAuthServiceErrorsPassThrough(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &stubAccounts{authErr: registration.ErrOverloaded}, nil, Limits{RatePerMinute: 1})
	for range 3 {
		resp := s.do(authed(jsonRequest("GET", "/v1/users/me", "")))
		// An overloaded hasher is no failed attempt: the rate limit must not kick in.
		readProblem(t, resp, http.StatusServiceUnavailable, "overloaded")
	}
}

// hangupAccounts authenticates by waiting until the request's context ends, as a caller
// queued for a password hash does, and reports that end on ended.
type hangupAccounts struct {
	stubAccounts
	started chan struct{}
	ended   chan struct{}
}

func (h *hangupAccounts) Authenticate(ctx context.Context, _, _ string) (registration.User, error) {
	h.started <- struct{}{}
	select {
	case <-ctx.Done():
		h.ended <- struct{}{}
		return registration.User{}, ctx.Err()
	case <-time.After(10 * time.Second): // gives up, so that a failing test ends
		return registration.User{}, registration.ErrUnauthorized
	}
}

func TestActivationWaitingForItsHashEndsWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	accounts := &hangupAccounts{started: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), accounts, nil, Limits{}, prometheus.NewRegistry()))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/users/me/activate", strings.NewReader(`{"code":"0427"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(testEmail+":"+testPassword)))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-accounts.started
	cancel()
	<-done
	select {
	case <-accounts.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context did not end after its client hung up: its hash would be computed for nobody")
	}
}

func TestReadBodyFirstKeepsWhatDecodeJSONSays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body io.Reader
		want string // errorCode of decodeJSON, "ok" for none
	}{
		{"object", strings.NewReader(`{"code":"0427"}`), "ok"},
		{"too large", strings.NewReader(`{"code":"` + strings.Repeat("1", maxBodyBytes) + `"}`), "request_too_large"},
		{"read error", io.MultiReader(strings.NewReader(`{"co`), failingReader{errors.New("connection reset")}), "malformed_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/users/me/activate", tt.body)
			r.Header.Set("Content-Type", "application/json")
			readBodyFirst(r)
			var dst struct {
				Code string `json:"code"`
			}
			if got := errorCode(decodeJSON(httptest.NewRecorder(), r, &dst)); got != tt.want {
				t.Errorf("decodeJSON after readBodyFirst: %s, want %s", got, tt.want)
			}
		})
	}
}
