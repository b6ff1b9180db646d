package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestUnknownPathAndWrongMethod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"GET", "/v1/users/me/", 404, "not_found", ""},
		{"POST", "/v1/users/someone", 404, "not_found", ""},
		{"GET", "/v1/users", 405, "method_not_allowed", "POST"},
		{"PATCH", "/v1/users/me", 405, "method_not_allowed", "DELETE, GET, HEAD"},
		{"GET", "/v1/users/me/activate", 405, "method_not_allowed", "POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			resp := s.do(jsonRequest(tt.method, tt.path, ""))
			readProblem(t, resp, tt.status, tt.code)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow = %q, want %q", got, tt.allow)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Fatalf("X-Content-Type-Options = %q", got)
			}
		})
	}
}

func TestCommonHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	for _, r := range []*http.Request{
		jsonRequest("GET", "/healthz", ""),
		jsonRequest("GET", "/openapi.yaml", ""),
		jsonRequest("GET", "/metrics", ""),
		jsonRequest("POST", "/v1/users", `{}`),
		jsonRequest("GET", "/v1/users/me", ""),
		jsonRequest("GET", "/missing", ""),
	} {
		resp := s.do(r)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Fatalf("%s %s: X-Content-Type-Options = %q", r.Method, r.URL, got)
		}
		if got := resp.Header.Get("Server"); got != "" {
			t.Fatalf("%s %s: Server = %q, want none", r.Method, r.URL, got)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"sane id is echoed", "req-42/abc:DEF", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"control character", "abc\x01def", false},
		{"non-ASCII", "abc\u00e9", false},
		{"none", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, nil, nil, Limits{})
			r := jsonRequest("GET", "/healthz", "")
			if tt.sent != "" {
				r.Header["X-Request-Id"] = []string{tt.sent}
			}
			got := s.do(r).Header.Get("X-Request-ID")
			if (got == tt.sent) != tt.echoed || got == "" || len(got) > 128 {
				t.Fatalf("X-Request-ID = %q for %q, echoed want %v", got, tt.sent, tt.echoed)
			}
			if !strings.Contains(s.logs.String(), `"request_id":"`+got+`"`) {
				t.Fatalf("log lacks the request id %q:\n%s", got, s.logs)
			}
		})
	}
}

func TestAccessLogKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &stubAccounts{}, nil, Limits{RatePerMinute: 100})
	authorization := basicHeader(testEmail + ":" + testPassword)
	requests := []*http.Request{
		jsonRequest("POST", "/v1/users", `{"email":"`+testEmail+`","password":"`+testPassword+`"}`),
		jsonRequest("POST", "/v1/users/me/activate", `{"code":"`+testCode+`"}`),
		jsonRequest("POST", "/v1/users/me/activation-code", ""),
		jsonRequest("POST", "/v1/users/me/activate", `{"code":`+testCode+`}`),
		jsonRequest("GET", "/v1/users/me", ""),
	}
	for _, r := range requests {
		r.Header.Set("Authorization", authorization)
		r.Header.Set("X-Request-ID", "log-test")
		s.do(r)
	}
	lines := logLines(t, s.logs.String())
	if len(lines) != len(requests) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(requests), s.logs)
	}
	for _, line := range lines {
		for _, key := range []string{"method", "route", "status", "duration_ms", "bytes", "request_id", "client_ip"} {
			if _, ok := line[key]; !ok {
				t.Fatalf("access log line lacks %q: %v", key, line)
			}
		}
	}
	// Only strings are searched: a duration may contain the code's digits by chance.
	for _, line := range lines {
		for key, value := range line {
			text, _ := value.(string)
			for _, secret := range []string{testPassword, testCode, authorization, strings.TrimPrefix(authorization, "Basic ")} {
				if strings.Contains(key+text, secret) {
					t.Fatalf("log line holds the secret %q: %v", secret, line)
				}
			}
		}
	}
}

// logLines parses a JSON log, one object a line.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, line)
	}
	return lines
}

func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	r := jsonRequest("POST", "/v1/users", `{}`)
	r.RemoteAddr = "198.51.100.23:4000"
	s.do(r)
	lines := logLines(t, s.logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), s.logs)
	}
	want := map[string]any{"msg": "request", "method": "POST", "route": "POST /v1/users", "status": 201.0, "client_ip": "198.51.100.23"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Fatalf("log %s = %v, want %v", k, lines[0][k], v)
		}
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &stubAccounts{panicky: true}, nil, Limits{})
	resp := s.do(jsonRequest("POST", "/v1/users", `{}`))
	p := readProblem(t, resp, http.StatusInternalServerError, "internal_error")
	if strings.Contains(p.Detail, "exploded") {
		t.Fatalf("detail %q reveals the panic", p.Detail)
	}
	if got := resp.Header.Get("X-Request-ID"); got == "" {
		t.Fatal("the 500 lost its X-Request-ID")
	}
	if !strings.Contains(s.logs.String(), "stub register exploded") {
		t.Fatalf("log lacks the panic:\n%s", s.logs)
	}
	if !strings.Contains(s.logs.String(), `"status":500`) {
		t.Fatalf("access log lacks the 500:\n%s", s.logs)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, stubPinger{err: errors.New("down")}, Limits{})
	// Liveness does not depend on the database.
	if got := readJSON(t, s.do(jsonRequest("GET", "/healthz", "")), 200); got["status"] != "ok" {
		t.Fatalf("healthz = %v", got)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	deadline := make(chan time.Duration, 1)
	up := newTestServer(t, nil, stubPinger{hadDeadline: deadline}, Limits{})
	got := readJSON(t, up.do(jsonRequest("GET", "/readyz", "")), http.StatusOK)
	if checks, _ := got["checks"].(map[string]any); got["status"] != "ok" || checks["database"] != "ok" {
		t.Fatalf("readyz = %v", got)
	}
	if d := <-deadline; d <= 0 || d > time.Second {
		t.Fatalf("ping deadline in %v, want at most a second", d)
	}

	down := newTestServer(t, nil, stubPinger{err: errors.New("dial tcp 10.9.8.7:5432: refused")}, Limits{})
	p := readProblem(t, down.do(jsonRequest("GET", "/readyz", "")), http.StatusServiceUnavailable, "not_ready")
	if p.Checks["database"] != "down" || strings.Contains(p.Detail, "10.9.8.7") {
		t.Fatalf("problem = %+v", p)
	}
	if !strings.Contains(down.logs.String(), "10.9.8.7") {
		t.Fatalf("log lacks why the database is down:\n%s", down.logs)
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	resp := s.do(jsonRequest("GET", "/openapi.yaml", ""))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(string(body), "openapi: 3.1") {
		t.Fatalf("body starts %q", body[:min(len(body), 40)])
	}
}

func TestOpenAPIListsEveryCode(t *testing.T) {
	t.Parallel()
	for code := range problemKinds {
		if !strings.Contains(string(openAPIDocument), code) {
			t.Fatalf("openapi.yaml does not mention the code %s", code)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	s.do(jsonRequest("POST", "/v1/users", `{}`))
	s.do(jsonRequest("POST", "/v1/users", `[]`))
	s.do(authed(jsonRequest("POST", "/v1/users/me/activate", `{"code":"`+testCode+`"}`)))
	s.do(jsonRequest("POST", "/v1/users/me/activation-code", ""))
	s.do(jsonRequest("GET", "/some/made/up/path", ""))
	resp := s.do(jsonRequest("GET", "/metrics", ""))
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`regapi_registrations_total{outcome="ok"} 1`,
		`regapi_registrations_total{outcome="malformed_request"} 1`,
		`regapi_activations_total{outcome="ok"} 1`,
		`regapi_code_resends_total{outcome="unauthorized"} 1`,
		`regapi_http_request_duration_seconds_count{route="POST /v1/users",status="201"} 1`,
		`regapi_http_request_duration_seconds_count{route="unmatched",status="404"} 1`,
		`regapi_http_requests_in_flight 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestPanicAfterResponseBeganAbortsIt(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		panic("half-way")
	})
	rec := &responseRecorder{ResponseWriter: httptest.NewRecorder(), status: http.StatusOK}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	serveRecovered(h, rec, httptest.NewRequest("GET", "/", nil))
}
