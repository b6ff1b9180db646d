package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	const valid = `{"email":"a@example.com","password":"12345678"}`
	// padded fills a body up to n bytes with white space after a valid object.
	padded := func(n int) string { return valid + strings.Repeat(" ", n-len(valid)) }
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		code        string // empty for success
	}{
		{"valid", "/v1/users", "application/json", valid, 201, ""},
		{"charset parameter", "/v1/users", "application/json; charset=utf-8", valid, 201, ""},
		{"upper-case charset", "/v1/users", "Application/JSON; charset=UTF-8", valid, 201, ""},
		{"missing fields go to the domain", "/v1/users", "application/json", `{}`, 201, ""},
		{"trailing white space", "/v1/users", "application/json", valid + "\n\t ", 201, ""},
		{"exactly 64 KiB", "/v1/users", "application/json", padded(64 << 10), 201, ""},
		{"no content type", "/v1/users", "", valid, 415, "unsupported_media_type"},
		{"text/plain", "/v1/users", "text/plain", valid, 415, "unsupported_media_type"},
		{"form", "/v1/users", "application/x-www-form-urlencoded", "email=a", 415, "unsupported_media_type"},
		{"not UTF-8", "/v1/users", "application/json; charset=latin1", valid, 415, "unsupported_media_type"},
		{"unparsable content type", "/v1/users", "application/json;;", valid, 415, "unsupported_media_type"},
		{"64 KiB and one byte", "/v1/users", "application/json", padded(64<<10 + 1), 413, "request_too_large"},
		{"empty", "/v1/users", "application/json", "", 400, "malformed_request"},
		{"bad JSON", "/v1/users", "application/json", `{"email":`, 400, "malformed_request"},
		{"syntax error", "/v1/users", "application/json", `{"email" "a"}`, 400, "malformed_request"},
		{"trailing data", "/v1/users", "application/json", valid + `{}`, 400, "malformed_request"},
		{"trailing brace", "/v1/users", "application/json", valid + `}`, 400, "malformed_request"},
		{"array", "/v1/users", "application/json", `[` + valid + `]`, 400, "malformed_request"},
		{"null", "/v1/users", "application/json", `null`, 400, "malformed_request"},
		{"string", "/v1/users", "application/json", `"a@example.com"`, 400, "malformed_request"},
		{"unknown field", "/v1/users", "application/json", `{"email":"a@example.com","password":"12345678","admin":true}`, 400, "malformed_request"},
		{"wrong type", "/v1/users", "application/json", `{"email":["a@example.com"],"password":"12345678"}`, 400, "malformed_request"},
		{"code as a string", "/v1/users/me/activate", "application/json", `{"code":"7319"}`, 200, ""},
		{"activate without content type", "/v1/users/me/activate", "", `{"code":"7319"}`, 415, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			r := authed(jsonRequest("POST", tt.path, tt.body))
			r.Header.Del("Content-Type")
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			resp := s.do(r)
			if tt.code == "" {
				readJSON(t, resp, tt.status)
				return
			}
			readProblem(t, resp, tt.status, tt.code)
			_, calls := s.accounts.calls()
			for _, c := range calls {
				if !strings.HasPrefix(c, "authenticate|") {
					t.Fatalf("the service was called with a rejected body: %q", c)
				}
			}
		})
	}
}

func TestDecodeErrorsNameTheFieldNotTheValue(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	resp := s.do(jsonRequest("POST", "/v1/users", `{"email":"a@example.com","password":["s3cret-value"]}`))
	p := readProblem(t, resp, http.StatusBadRequest, "malformed_request")
	if !strings.Contains(p.Detail, `"password"`) || strings.Contains(p.Detail, "s3cret-value") {
		t.Fatalf("detail = %q, want the field named and its value left out", p.Detail)
	}
}
