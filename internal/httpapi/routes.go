package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// addRoutes lists every endpoint of the API. The documented contract of each is in
// openapi.yaml, which must change together with this list.
func addRoutes(
	mux *http.ServeMux,
	accounts AccountService,
	auth *authenticator,
	perIP *keyedLimiter,
	ready readiness,
	reg *prometheus.Registry,
	m *metrics,
	rt *retries,
) {
	mux.Handle("POST /v1/users", endpoint(m.registrations, handleRegister(accounts, perIP, rt)))
	mux.Handle("GET /v1/users/me", endpoint(nil, handleMe(auth)))
	mux.Handle("POST /v1/users/me/activate", endpoint(m.activations, handleActivate(accounts, auth, rt)))
	mux.Handle("POST /v1/users/me/activation-code", endpoint(m.resends, handleResend(accounts, auth, rt)))
	mux.Handle("DELETE /v1/users/me", endpoint(m.deletions, handleDelete(accounts, auth)))
	mux.Handle("PUT /v1/users/me/password", endpoint(m.passwordChanges, handleChangePassword(accounts, auth)))
	mux.Handle("POST /v1/users/me/email", endpoint(m.emailChangeRequests, handleRequestEmailChange(accounts, auth, rt)))
	mux.Handle("POST /v1/users/me/email/confirm", endpoint(m.emailChangeConfirms, handleConfirmEmailChange(accounts, auth, rt)))
	mux.Handle("POST /v1/password-resets", endpoint(m.resetRequests, handleRequestPasswordReset(accounts, perIP, rt)))
	mux.Handle("POST /v1/password-resets/confirm", endpoint(m.resetConfirms, handleConfirmPasswordReset(accounts, auth.failures, rt)))

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /openapi.yaml", handleOpenAPI())
	docs := handleDocs()
	mux.Handle("GET /docs", docs)
	mux.Handle("GET /docs/{$}", docs)
	mux.Handle("GET /docs/{asset}", docs)
}
