package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cooldown := &registration.RetryError{Err: registration.ErrResendCooldown, After: 2500 * time.Millisecond}
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		headers map[string]string
	}{
		{"email taken", registration.ErrEmailTaken, 409, "email_taken", nil},
		{"unauthorized", registration.ErrUnauthorized, 401, "unauthorized", map[string]string{"WWW-Authenticate": `Basic realm="regapi", charset="UTF-8"`}},
		{"already active", registration.ErrAlreadyActive, 409, "already_active", nil},
		{"invalid code", registration.ErrInvalidCode, 422, "invalid_code", nil},
		{"code expired", registration.ErrCodeExpired, 410, "code_expired", nil},
		{"too many attempts", registration.ErrTooManyAttempts, 429, "too_many_attempts", map[string]string{"Retry-After": ""}},
		{"resend cooldown", cooldown, 429, "resend_cooldown", map[string]string{"Retry-After": "3"}},
		{"wrapped cooldown", fmt.Errorf("resend code: %w", cooldown), 429, "resend_cooldown", map[string]string{"Retry-After": "3"}},
		{"overloaded", fmt.Errorf("hash password: %w", registration.ErrOverloaded), 503, "overloaded", map[string]string{"Retry-After": "1"}},
		{"database unreachable", fmt.Errorf("load account: %w: %w", registration.ErrUnavailable, io.ErrUnexpectedEOF), 503, "unavailable", map[string]string{"Retry-After": "1"}},
		{"validation", &registration.ValidationError{Fields: map[string]string{"email": "bad"}}, 422, "validation_failed", nil},
		{"not found leaks nothing", registration.ErrNotFound, 500, "internal_error", nil},
		{"internal", errors.New("pq: connection to 10.1.2.3 refused"), 500, "internal_error", map[string]string{"Retry-After": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, &stubAccounts{err: tt.err}, nil, Limits{})
			resp := s.do(jsonRequest("POST", "/v1/users", `{"email":"a@example.com","password":"12345678"}`))
			p := readProblem(t, resp, tt.status, tt.code)
			for name, want := range tt.headers {
				if got := resp.Header.Get(name); got != want {
					t.Fatalf("%s = %q, want %q", name, got, want)
				}
			}
			if strings.Contains(p.Detail, tt.err.Error()) || strings.Contains(p.Detail, "10.1.2.3") {
				t.Fatalf("detail %q reveals the error", p.Detail)
			}
		})
	}
}

func TestValidationErrorsSortedByField(t *testing.T) {
	t.Parallel()
	err := &registration.ValidationError{Fields: map[string]string{"password": "too short", "email": "is required", "code": "4 digits"}}
	s := newTestServer(t, &stubAccounts{err: err}, nil, Limits{})
	p := readProblem(t, s.do(jsonRequest("POST", "/v1/users", `{}`)), 422, "validation_failed")
	want := []fieldError{{"code", "4 digits"}, {"email", "is required"}, {"password", "too short"}}
	if len(p.Errors) != len(want) {
		t.Fatalf("errors = %v, want %v", p.Errors, want)
	}
	for i := range want {
		if p.Errors[i] != want[i] {
			t.Fatalf("errors = %v, want %v", p.Errors, want)
		}
	}
}

func TestInternalErrorIsLogged(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &stubAccounts{err: errors.New("disk on fire")}, nil, Limits{})
	readProblem(t, s.do(jsonRequest("POST", "/v1/users", `{}`)), 500, "internal_error")
	if !strings.Contains(s.logs.String(), "disk on fire") {
		t.Fatalf("log lacks the internal error:\n%s", s.logs)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "1"},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1001 * time.Millisecond, "2"},
		{30 * time.Second, "30"},
		{24 * time.Hour, "86400"},
	}
	for _, tt := range tests {
		if got := retryAfterSeconds(tt.d); got != tt.want {
			t.Fatalf("retryAfterSeconds(%v) = %s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestEveryCodeHasAKind(t *testing.T) {
	t.Parallel()
	for _, s := range sentinelCodes {
		rec := httptest.NewRecorder()
		respondError(rec, httptest.NewRequest("GET", "/", nil), s.err)
		if kind, ok := problemKinds[s.code]; !ok || rec.Code != kind.status {
			t.Fatalf("%s: status %d, kind %+v", s.code, rec.Code, kind)
		}
	}
}
