package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// The fuzz targets of the flows after sign-up send what they are given through the real
// handlers and registration.Service, over flowStore: one active account (testEmail with
// testPassword) with a live password reset code and a live address change code to
// flowNewEmail, both testCode; every change is forgotten. Never a 5xx, every error a
// well-formed problem, and a success only for the right input.

// flowNewEmail is the address the test account asked to move to.
const flowNewEmail = "alice.new@example.org"

// flowStore is a registration.Store holding one active account with live codes, read-only.
type flowStore struct{ keys *registration.CodeKeys }

func (s flowStore) address(email string) registration.Address {
	a := registration.Address{Email: email}
	if email != testEmail {
		return a
	}
	// Issued an hour ago (no cooldown), sent now (valid for the policy's hour).
	issued, sent := time.Now().Add(-time.Hour), time.Now()
	user := testUser()
	user.Status, user.ActivatedAt = registration.StatusActive, &testCreated
	a.Account = &registration.Account{
		User:         user,
		PasswordHash: registrationtest.FakeHash(testPassword),
		Codes: map[registration.CodeKind]*registration.Code{
			registration.CodePasswordReset: {Kind: registration.CodePasswordReset,
				Hash: s.keys.Hash(testEmail, testCode), IssuedAt: issued, SentAt: &sent},
			registration.CodeEmailChange: {Kind: registration.CodeEmailChange, NewEmail: flowNewEmail,
				Hash: s.keys.Hash(flowNewEmail, testCode), IssuedAt: issued, SentAt: &sent},
		},
	}
	return a
}

func (s flowStore) UpdateAddresses(_ context.Context, from, to string, fn func(from, to *registration.Address) error) error {
	a, b := s.address(from), s.address(to)
	return fn(&a, &b)
}

func (s flowStore) UpdateAddress(_ context.Context, email string, fn func(*registration.Address) error) error {
	a := s.address(email)
	return fn(&a)
}

func (s flowStore) Account(_ context.Context, email string) (registration.Account, error) {
	if a := s.address(email); a.Account != nil {
		return *a.Account, nil
	}
	return registration.Account{}, registration.ErrNotFound
}

// newFlowFuzzServer is newFuzzServer over flowStore.
func newFlowFuzzServer(f testing.TB) http.Handler {
	keys, err := registration.NewCodeKeys(bytes.Repeat([]byte{7}, registration.SecretSize), nil)
	if err != nil {
		f.Fatal(err)
	}
	policy := registration.Policy{CodeTTL: time.Hour, MaxAttempts: 5, ResendCooldown: 30 * time.Second, MaxCodesPerDay: 10}
	svc, err := registration.NewService(context.Background(), flowStore{keys: keys}, registrationtest.Hasher{}, keys, policy, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	return NewServer(slog.New(slog.DiscardHandler), svc, stubPinger{}, Limits{}, prometheus.NewRegistry())
}

// serveFlow sends body to method path, with the test account's credentials when auth is set,
// and returns the answer, checked as checkAnswer does (a 204 must have no body).
func serveFlow(t *testing.T, h http.Handler, method, path string, auth bool, body []byte) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if auth {
		r = authed(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code == http.StatusNoContent {
		if rec.Body.Len() != 0 {
			t.Fatalf("204 with a body: %q", rec.Body)
		}
		return rec, nil
	}
	return rec, checkAnswer(t, rec)
}

// validPassword reports whether password keeps the registration rules: long enough as sent
// and once normalised, not over-long.
func validPassword(password string) bool {
	return utf8.RuneCountInString(password) >= registration.MinPasswordLength &&
		utf8.RuneCountInString(registration.NormalizePassword(password)) >= registration.MinPasswordLength &&
		len(password) <= registration.MaxPasswordBytes
}

// FuzzResetRequestBody fuzzes the body of POST /v1/password-resets: 202 for a well-formed
// address, the same whether or not it holds an account.
func FuzzResetRequestBody(f *testing.F) {
	f.Add([]byte(`{"email":"` + testEmail + `"}`))
	f.Add([]byte(`{"email":"nobody@example.com"}`))
	f.Add([]byte(`{"email":" ALICE@EXAMPLE.COM "}`))
	f.Add([]byte(`{"email":"a@10.0.0.5"}`))
	f.Add([]byte(`{"email":["alice@example.com"]}`))
	h := newFlowFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, m := serveFlow(t, h, http.MethodPost, "/v1/password-resets", false, body)
		switch rec.Code {
		case http.StatusAccepted:
			if m["expires_in_seconds"] != float64(3600) || len(m) != 1 {
				t.Fatalf("202 body %s", rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzResetConfirmBody fuzzes the body of POST /v1/password-resets/confirm, and with it the
// parsers of the address, the code and the password.
func FuzzResetConfirmBody(f *testing.F) {
	f.Add([]byte(`{"email":"` + testEmail + `","code":"` + testCode + `","password":"new password 1"}`))
	f.Add([]byte(`{"email":"` + testEmail + `","code":7319,"password":"new password 1"}`))
	f.Add([]byte(`{"email":"nobody@example.com","code":"` + testCode + `","password":"new password 1"}`))
	f.Add([]byte(`{"email":"` + testEmail + `","code":"٧٣١٩","password":"\ufb01\u0000"}`))
	f.Add([]byte(`{"email":"` + testEmail + `","code":"` + testCode + `","code":"0000","password":"new password 1"}`))
	h := newFlowFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, m := serveFlow(t, h, http.MethodPost, "/v1/password-resets/confirm", false, body)
		switch rec.Code {
		case http.StatusOK:
			// Only the right code, as a JSON string, for the account's address, resets.
			var req struct{ Email, Code, Password string }
			if json.Unmarshal(body, &req) != nil || req.Code != testCode || !validPassword(req.Password) || hasDuplicateMember(body) {
				t.Fatalf("reset with %q", body)
			}
			if email, _ := registration.NormalizeEmail(req.Email); email != testEmail || m["email"] != testEmail || m["status"] != "active" {
				t.Fatalf("reset with %q: %s", body, rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzEmailChangeBody fuzzes the body of POST /v1/users/me/email.
func FuzzEmailChangeBody(f *testing.F) {
	f.Add([]byte(`{"email":"` + flowNewEmail + `"}`))
	f.Add([]byte(`{"email":"` + testEmail + `"}`))
	f.Add([]byte(`{"email":"  Bob@Example.ORG\t"}`))
	f.Add([]byte(`{"email":"bob@example.com\r\nBcc: eve@example.com"}`))
	f.Add([]byte(`{"email":null}`))
	h := newFlowFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, _ := serveFlow(t, h, http.MethodPost, "/v1/users/me/email", true, body)
		switch rec.Code {
		case http.StatusAccepted:
			// Only a well-formed address other than the account's own is asked for.
			var req struct{ Email string }
			email, ok := "", false
			if json.Unmarshal(body, &req) == nil {
				email, ok = registration.NormalizeEmail(req.Email)
			}
			if !ok || email == testEmail || hasDuplicateMember(body) {
				t.Fatalf("address change asked with %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzEmailChangeConfirmBody fuzzes the body of POST /v1/users/me/email/confirm.
func FuzzEmailChangeConfirmBody(f *testing.F) {
	f.Add([]byte(`{"code":"` + testCode + `"}`))
	f.Add([]byte(`{"code":7319}`))
	f.Add([]byte(`{"code":"7319 "}`))
	f.Add([]byte(`{"code":"` + testCode + `","code":"0000"}`))
	h := newFlowFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, m := serveFlow(t, h, http.MethodPost, "/v1/users/me/email/confirm", true, body)
		switch rec.Code {
		case http.StatusOK:
			var req struct{ Code string }
			if json.Unmarshal(body, &req) != nil || req.Code != testCode || hasDuplicateMember(body) || m["email"] != flowNewEmail {
				t.Fatalf("moved with %q: %s", body, rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzPasswordChangeBody fuzzes the body of PUT /v1/users/me/password.
func FuzzPasswordChangeBody(f *testing.F) {
	f.Add([]byte(`{"password":"new password 1"}`))
	f.Add([]byte(`{"password":"short"}`))
	f.Add([]byte(`{"password":"` + strings.Repeat("é", 600) + `"}`))
	f.Add([]byte(`{"password":12345678}`))
	h := newFlowFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, _ := serveFlow(t, h, http.MethodPut, "/v1/users/me/password", true, body)
		switch rec.Code {
		case http.StatusNoContent:
			var req struct{ Password string }
			if json.Unmarshal(body, &req) != nil || !validPassword(req.Password) || hasDuplicateMember(body) {
				t.Fatalf("password changed with %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
