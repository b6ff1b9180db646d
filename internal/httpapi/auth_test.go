package httpapi

import (
	"net/http"
	"strings"
	"testing"

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
