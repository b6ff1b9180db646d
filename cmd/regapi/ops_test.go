package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/httpapi"
)

func TestMetricsAfterOneRegistration(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t, func(string, int, *http.Request) int { return http.StatusOK })
	env := baseEnv(t)
	env["MAIL_PROVIDER"], env["MAILPIT_URL"] = "mailpit", f.URL
	a := startApp(t, env)
	a.register(t, "metrics@example.com", "password-1234").want(t, http.StatusCreated, "")
	f.waitAccepted(t, 1, 30*time.Second)

	var text string
	// The dispatcher records the acceptance, and marks the email sent, just after the
	// provider answered.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m := a.do(t, http.MethodGet, "/metrics", "", "", "")
		m.want(t, http.StatusOK, "")
		text = m.raw
		if strings.Contains(text, "regapi_email_accept_latency_seconds_count 1\n") &&
			strings.Contains(text, "regapi_outbox_pending_messages 0\n") {
			break
		}
	}
	for _, want := range []string{
		`regapi_http_request_duration_seconds_bucket{route="POST /v1/users",status="201",le="+Inf"} 1`,
		"regapi_http_requests_in_flight 1", // the scrape itself
		`regapi_registrations_total{outcome="ok"} 1`,
		`regapi_activations_total{outcome="ok"} 0`,
		"regapi_password_hash_queue_wait_seconds_count ",
		"regapi_password_hash_queue_depth 0",
		"regapi_password_hash_busy_seconds_total ",
		"go_cpu_classes_gc_total_cpu_seconds_total ",
		"regapi_outbox_pending_messages 0",
		"regapi_outbox_oldest_pending_age_seconds 0",
		"regapi_outbox_dead_messages 0",
		`regapi_email_delivery_attempts_total{outcome="sent"} 1`,
		`regapi_email_delivery_attempts_total{outcome="dead"} 0`,
		"regapi_email_accept_latency_seconds_count 1",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	a.do(t, http.MethodGet, "/healthz", "", "", "").want(t, http.StatusOK, "")
	ready := a.do(t, http.MethodGet, "/readyz", "", "", "")
	ready.want(t, http.StatusOK, "")
	if checks, _ := ready.body["checks"].(map[string]any); checks["database"] != "ok" {
		t.Fatalf("/readyz: %s", ready.raw)
	}
	if doc := a.do(t, http.MethodGet, "/openapi.yaml", "", "", ""); doc.raw != string(httpapi.OpenAPIDocument()) {
		t.Fatal("/openapi.yaml is not the embedded document")
	}

	page := a.do(t, http.MethodGet, "/docs", "", "", "")
	page.want(t, http.StatusOK, "")
	if !strings.Contains(page.raw, "/docs/swagger-ui-bundle.js") || !strings.Contains(page.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("/docs: %v\n%s", page.header, page.raw)
	}
	for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "init.js", "favicon-32x32.png", "LICENSE"} {
		a.do(t, http.MethodGet, "/docs/"+asset, "", "", "").want(t, http.StatusOK, "")
	}
	a.do(t, http.MethodGet, "/docs/", "", "", "").want(t, http.StatusOK, "")
	a.do(t, http.MethodGet, "/docs/openapi.go", "", "", "").want(t, http.StatusNotFound, "not_found")
	cached := &app{base: a.base, header: http.Header{"If-None-Match": {page.header.Get("ETag")}}}
	cached.do(t, http.MethodGet, "/docs", "", "", "").want(t, http.StatusNotModified, "")

	a.do(t, http.MethodGet, "/v1/nothing", "", "", "").want(t, http.StatusNotFound, "not_found")
	a.do(t, http.MethodPatch, "/v1/users/me", "", "", "").want(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestReadyzWithoutDatabase(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["DATABASE_URL"] = "postgres://postgres@" + refusingAddr(t) + "/none?sslmode=disable&connect_timeout=1"
	a := startApp(t, env)
	ready := a.do(t, http.MethodGet, "/readyz", "", "", "")
	ready.want(t, http.StatusServiceUnavailable, "not_ready")
	if checks, _ := ready.body["checks"].(map[string]any); checks["database"] != "down" {
		t.Fatalf("/readyz: %s", ready.raw)
	}
	a.do(t, http.MethodGet, "/healthz", "", "", "").want(t, http.StatusOK, "")
	if m := a.do(t, http.MethodGet, "/metrics", "", "", ""); strings.Contains(m.raw, "regapi_outbox_pending_messages") {
		t.Fatal("/metrics reports outbox gauges it could not read")
	}
}
