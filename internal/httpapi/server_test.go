package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

const (
	testEmail    = "alice@example.com"
	testPassword = "correct:horse:battery staple"
	testCode     = "7319"
)

var testCreated = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func testUser() registration.User {
	return registration.User{
		ID:        "4b1d6f0e-8f5a-4c1e-9d2b-6a7c8e9f0a1b",
		Email:     testEmail,
		Status:    registration.StatusPending,
		CreatedAt: testCreated,
	}
}

// stubAccounts stands in for *registration.Service: it knows one user, testEmail with
// testPassword, and answers Register, Activate and Resend with err when set.
type stubAccounts struct {
	err     error // returned by every method but Authenticate
	authErr error // returned by Authenticate instead of checking the credentials
	panicky bool  // Register panics

	mu        sync.Mutex
	authCalls int
	got       []string // the arguments each call received, for tests to inspect
}

func (s *stubAccounts) note(args ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, strings.Join(args, "|"))
}

func (s *stubAccounts) Register(_ context.Context, email, password string, lang registration.Language) (registration.User, error) {
	s.note("register", email, password, string(lang))
	if s.panicky {
		panic("stub register exploded")
	}
	if s.err != nil {
		return registration.User{}, s.err
	}
	return testUser(), nil
}

func (s *stubAccounts) Authenticate(_ context.Context, email, password string) (registration.User, error) {
	s.mu.Lock()
	s.authCalls++
	s.mu.Unlock()
	s.note("authenticate", email, password)
	switch {
	case s.authErr != nil:
		return registration.User{}, s.authErr
	case email != testEmail || password != testPassword:
		return registration.User{}, registration.ErrUnauthorized
	}
	return testUser(), nil
}

func (s *stubAccounts) Activate(_ context.Context, u registration.User, code string) (registration.User, error) {
	s.note("activate", u.ID, code)
	if s.err != nil {
		return registration.User{}, s.err
	}
	u.Status = registration.StatusActive
	at := testCreated.Add(90 * time.Second)
	u.ActivatedAt = &at
	return u, nil
}

func (s *stubAccounts) Resend(_ context.Context, u registration.User) (time.Duration, error) {
	s.note("resend", u.ID)
	if s.err != nil {
		return 0, s.err
	}
	return time.Minute, nil
}

func (s *stubAccounts) RequestPasswordReset(_ context.Context, email string) (time.Duration, error) {
	s.note("request-reset", email)
	return time.Minute, s.err
}

func (s *stubAccounts) ResetPassword(_ context.Context, email, code, password string) (registration.User, error) {
	s.note("reset", email, code, password)
	if s.err != nil {
		return registration.User{}, s.err
	}
	return testUser(), nil
}

func (s *stubAccounts) ChangePassword(_ context.Context, u registration.User, password string) error {
	s.note("change-password", u.ID, password)
	return s.err
}

func (s *stubAccounts) RequestEmailChange(_ context.Context, u registration.User, email string) (time.Duration, error) {
	s.note("request-email-change", u.ID, email)
	return time.Minute, s.err
}

func (s *stubAccounts) ConfirmEmailChange(_ context.Context, u registration.User, code string) (registration.User, error) {
	s.note("confirm-email-change", u.ID, code)
	if s.err != nil {
		return registration.User{}, s.err
	}
	return u, nil
}

func (s *stubAccounts) Delete(_ context.Context, u registration.User) error {
	s.note("delete", u.ID)
	return s.err
}

func (s *stubAccounts) calls() (auth int, got []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authCalls, append([]string(nil), s.got...)
}

// stubPinger is the database for /readyz.
type stubPinger struct {
	err         error
	hadDeadline chan time.Duration
}

func (p stubPinger) Ping(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok && p.hadDeadline != nil {
		p.hadDeadline <- time.Until(deadline)
	}
	return p.err
}

// testServer is a NewServer with stubs, whose log is kept for inspection.
type testServer struct {
	handler  http.Handler
	accounts *stubAccounts
	logs     *bytes.Buffer
}

func newTestServer(t *testing.T, accounts *stubAccounts, db Pinger, limits Limits) *testServer {
	t.Helper()
	if accounts == nil {
		accounts = &stubAccounts{}
	}
	if db == nil {
		db = stubPinger{}
	}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewServer(logger, accounts, db, limits, prometheus.NewRegistry())
	return &testServer{handler: h, accounts: accounts, logs: logs}
}

func (s *testServer) do(r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, r)
	return rec.Result()
}

// jsonRequest returns a request carrying body as application/json; an empty body sends none.
func jsonRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// authed adds testEmail's Basic Auth credentials to r.
func authed(r *http.Request) *http.Request {
	r.SetBasicAuth(testEmail, testPassword)
	return r
}

func basicHeader(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

// readProblem checks that resp is a well-formed problem with status and code, and returns it.
func readProblem(t *testing.T, resp *http.Response, status int, code string) problem {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", got)
	}
	var p problem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Status != status || p.Code != code || p.Type != "urn:regapi:problem:"+code {
		t.Fatalf("problem = %+v, want status %d code %s", p, status, code)
	}
	if p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %s lacks a title or a detail", body)
	}
	return p
}

// readJSON checks that resp has status and a JSON body, and decodes it into a map.
func readJSON(t *testing.T, resp *http.Response, status int) map[string]any {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", got)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return m
}

func TestRegister(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	resp := s.do(jsonRequest("POST", "/v1/users", `{"email":" Alice@Example.com ","password":"pa:ss word"}`))
	user := readJSON(t, resp, http.StatusCreated)
	if got := resp.Header.Get("Location"); got != "/v1/users/me" {
		t.Fatalf("Location = %q, want /v1/users/me", got)
	}
	want := map[string]any{
		"id": testUser().ID, "email": testEmail, "status": "pending",
		"created_at": "2025-03-04T05:06:07Z", "activated_at": nil,
	}
	if len(user) != len(want) {
		t.Fatalf("user = %v, want %v", user, want)
	}
	for k, v := range want {
		if got, ok := user[k]; !ok || got != v {
			t.Fatalf("user[%q] = %v, want %v", k, got, v)
		}
	}
	// The email is passed on untouched: normalising it is the domain's job.
	if _, got := s.accounts.calls(); got[0] != "register| Alice@Example.com |pa:ss word|en" {
		t.Fatalf("Register got %q", got[0])
	}
}

func TestAuthenticatedEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
		want                     any
	}{
		{"me", "GET", "/v1/users/me", "", http.StatusOK, "status", "pending"},
		{"activate", "POST", "/v1/users/me/activate", `{"code":"` + testCode + `"}`, http.StatusOK, "activated_at", "2025-03-04T05:07:37Z"},
		{"resend", "POST", "/v1/users/me/activation-code", "", http.StatusAccepted, "expires_in_seconds", 60.0},
		{"resend ignores a body", "POST", "/v1/users/me/activation-code", `not json at all`, http.StatusAccepted, "expires_in_seconds", 60.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			resp := s.do(authed(jsonRequest(tt.method, tt.path, tt.body)))
			got := readJSON(t, resp, tt.status)
			if got[tt.field] != tt.want {
				t.Fatalf("%s = %v, want %v", tt.field, got[tt.field], tt.want)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestActivatePassesOnlyStringCodes(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"code":"0427"}`: "0427",
		`{"code":427}`:    "",
		`{"code":null}`:   "",
		`{}`:              "",
	} {
		s := newTestServer(t, nil, nil, Limits{})
		readJSON(t, s.do(authed(jsonRequest("POST", "/v1/users/me/activate", body))), http.StatusOK)
		_, got := s.accounts.calls()
		if last := got[len(got)-1]; last != "activate|"+testUser().ID+"|"+want {
			t.Errorf("%s: service got %q, want code %q", body, last, want)
		}
	}
}

func TestUncleanPathsAreNotFound(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	for _, path := range []string{"//v1/users/me", "/v1/./users/me", "/v1/users/me/..", "/v1/x/../users/me"} {
		r := authed(httptest.NewRequest("GET", "/", nil))
		r.URL.Path = path
		readProblem(t, s.do(r), http.StatusNotFound, "not_found")
	}
}
