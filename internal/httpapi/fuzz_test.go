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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// The fuzz targets send what they are given through the real handler and the real
// registration.Service, over a store that knows one pending account (testEmail with
// testPassword, code testCode) and forgets every change, so that each input is judged alone
// and memory stays flat however long the fuzzer runs. The invariant is the contract's: never a
// 5xx, and every error a well-formed problem. The seed corpora are in testdata/fuzz.

// fuzzStore is a registration.Store holding one pending account, read-only.
type fuzzStore struct{ keys *registration.CodeKeys }

func (s fuzzStore) address(email string) registration.Address {
	a := registration.Address{Email: email}
	if email == testEmail {
		sent := time.Now()
		a.Account = &registration.Account{
			User:         testUser(),
			PasswordHash: registrationtest.FakeHash(testPassword),
			Codes:        map[registration.CodeKind]*registration.Code{registration.CodeActivation: {Kind: registration.CodeActivation, Hash: s.keys.Hash(testEmail, testCode), IssuedAt: sent, SentAt: &sent}},
		}
	}
	return a
}

func (s fuzzStore) UpdateAddresses(_ context.Context, from, to string, fn func(from, to *registration.Address) error) error {
	a, b := s.address(from), s.address(to)
	return fn(&a, &b)
}

func (s fuzzStore) UpdateAddress(_ context.Context, email string, fn func(*registration.Address) error) error {
	a := s.address(email)
	return fn(&a)
}

func (s fuzzStore) Account(_ context.Context, email string) (registration.Account, error) {
	if a := s.address(email); a.Account != nil {
		return *a.Account, nil
	}
	return registration.Account{}, registration.ErrNotFound
}

// newFuzzServer returns the API over the real service and fuzzStore, without rate limits, so
// that the answer depends on the input alone.
func newFuzzServer(f testing.TB) http.Handler {
	keys, err := registration.NewCodeKeys(bytes.Repeat([]byte{7}, registration.SecretSize), nil)
	if err != nil {
		f.Fatal(err)
	}
	policy := registration.Policy{CodeTTL: time.Hour, MaxAttempts: 5, ResendCooldown: 30 * time.Second, MaxCodesPerDay: 10}
	svc, err := registration.NewService(context.Background(), fuzzStore{keys: keys}, registrationtest.Hasher{}, keys, policy, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	return NewServer(slog.New(slog.DiscardHandler), svc, stubPinger{}, Limits{}, prometheus.NewRegistry())
}

// checkAnswer fails t on a 5xx or on an error that is not a well-formed problem, and returns
// the decoded body.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("status %d with a body that is not a JSON object: %q", rec.Code, body)
	}
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != problemContentType {
			t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
		}
		if code, _ := m["code"].(string); m["status"] != float64(rec.Code) || problemKinds[code].status != rec.Code {
			t.Fatalf("status %d with problem %s", rec.Code, body)
		}
	}
	return m
}

// FuzzRegisterBody fuzzes the JSON decoding of POST /v1/users and the validation behind it.
func FuzzRegisterBody(f *testing.F) {
	f.Add("application/json", []byte(`{"email":"bob@example.com","password":"12345678"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"email":"b\u0000ob@example.com","password":"\xff\xfe"}`))
	f.Add("text/plain", []byte(`{}`))
	h := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/users", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		m := checkAnswer(t, rec)
		switch rec.Code {
		case http.StatusCreated:
			// Only a valid address is registered, and it is returned normalised.
			email, _ := m["email"].(string)
			if n, ok := registration.NormalizeEmail(email); !ok || n != email {
				t.Fatalf("registered %q", email)
			}
			if hasDuplicateMember(body) {
				t.Fatalf("registered with a member given twice: %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
			http.StatusUnprocessableEntity, http.StatusConflict, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzBasicAuth fuzzes the Authorization header of GET /v1/users/me.
func FuzzBasicAuth(f *testing.F) {
	f.Add(basicHeader(testEmail + ":" + testPassword))
	f.Add(basicHeader(" ALICE@example.com :" + testPassword))
	f.Add("Basic " + strings.Repeat("=", 9))
	f.Add("Basic\tYTpi")
	h := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, authorization string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/users/me", nil)
		r.Header.Set("Authorization", authorization)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		m := checkAnswer(t, rec)
		switch rec.Code {
		case http.StatusOK:
			// Only the one account's password opens it.
			_, password, _ := r.BasicAuth()
			if m["email"] != testEmail || password != testPassword {
				t.Fatalf("authenticated as %v with %q", m["email"], authorization)
			}
		case http.StatusUnauthorized:
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzActivateBody fuzzes the body of POST /v1/users/me/activate, and with it the code parser.
func FuzzActivateBody(f *testing.F) {
	f.Add([]byte(`{"code":"` + testCode + `"}`))
	f.Add([]byte(`{"code":7319}`))
	f.Add([]byte(`{"code":"\u0037319"}`))
	f.Add([]byte(`{"code":"٧٣١٩"}`))
	h := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := authed(httptest.NewRequest(http.MethodPost, "/v1/users/me/activate", bytes.NewReader(body)))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		checkAnswer(t, rec)
		switch rec.Code {
		case http.StatusOK:
			// Only the right code, as a JSON string, activates.
			var req struct{ Code string }
			if json.Unmarshal(body, &req) != nil || req.Code != testCode {
				t.Fatalf("activated with %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
