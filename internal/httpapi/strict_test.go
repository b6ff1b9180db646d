package httpapi

import (
	"net/http"
	"testing"
)

func TestDuplicateMembersAreMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, path, body string }{
		{"email twice", "/v1/users", `{"email":"a@example.com","password":"12345678","email":"b@example.com"}`},
		{"password twice", "/v1/users", `{"password":"12345678","email":"a@example.com","password":"87654321"}`},
		{"the same value twice", "/v1/users", `{"email":"a@example.com","email":"a@example.com","password":"12345678"}`},
		{"differing in case", "/v1/users", `{"email":"a@example.com","EMAIL":"b@example.com","password":"12345678"}`},
		{"the Kelvin sign", "/v1/users/me/activate", `{"code":"7319","\u212aey":"x","key":"y"}`},
		{"code twice", "/v1/users/me/activate", `{"code":"0000","code":"7319"}`},
		{"in a nested value", "/v1/users/me/activate", `{"code":{"a":1,"a":2}}`},
		{"in an object in an array", "/v1/users/me/activate", `{"code":[{"a":1},{"b":[{"c":1,"c":2}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			readProblem(t, s.do(authed(jsonRequest("POST", tt.path, tt.body))), http.StatusBadRequest, "malformed_request")
			_, calls := s.accounts.calls()
			for _, c := range calls {
				if c[:len("authenticate|")] != "authenticate|" {
					t.Fatalf("the service was called with a rejected body: %q", c)
				}
			}
		})
	}
}

func TestDistinctMembersAreNoDuplicates(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"email":"a@example.com","password":"12345678"}`,
		`{"email":"a@example.com","password":"{\"email\":1,\"email\":2}"}`,
	} {
		s := newTestServer(t, nil, nil, Limits{})
		readJSON(t, s.do(jsonRequest("POST", "/v1/users", body)), http.StatusCreated)
	}
	s := newTestServer(t, nil, nil, Limits{})
	// The same name in two sibling objects is no duplicate; a wrong code is the domain's to judge.
	resp := s.do(authed(jsonRequest("POST", "/v1/users/me/activate", `{"code":[{"a":1},{"a":2}]}`)))
	readJSON(t, resp, http.StatusOK)
}

func TestTwoAuthorizationHeadersAreUnauthorized(t *testing.T) {
	t.Parallel()
	valid := basicHeader(testEmail + ":" + testPassword)
	for name, headers := range map[string][]string{
		"valid twice":          {valid, valid},
		"valid, then another":  {valid, basicHeader("mallory@example.com:guess")},
		"another, then valid":  {basicHeader("mallory@example.com:guess"), valid},
		"valid, then a bearer": {valid, "Bearer token"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			r := jsonRequest("GET", "/v1/users/me", "")
			r.Header["Authorization"] = headers
			resp := s.do(r)
			readProblem(t, resp, http.StatusUnauthorized, "unauthorized")
			if got := resp.Header.Get("WWW-Authenticate"); got != wwwAuthenticate {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
			if calls, _ := s.accounts.calls(); calls != 0 {
				t.Fatalf("Authenticate called %d times", calls)
			}
		})
	}
}
