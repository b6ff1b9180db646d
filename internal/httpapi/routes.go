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
	accounts Accounts,
	auth *authenticator,
	registrations *keyedLimiter,
	ready readiness,
	reg *prometheus.Registry,
	m *metrics,
) {
	mux.Handle("POST /v1/users", endpoint(m.registrations, handleRegister(accounts, registrations)))
	mux.Handle("GET /v1/users/me", endpoint(nil, handleMe(auth)))
	mux.Handle("POST /v1/users/me/activate", endpoint(m.activations, handleActivate(accounts, auth)))
	mux.Handle("POST /v1/users/me/activation-code", endpoint(m.resends, handleResend(accounts, auth)))

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /openapi.yaml", handleOpenAPI())
	docs := handleDocs()
	mux.Handle("GET /docs", docs)
	mux.Handle("GET /docs/{$}", docs)
	mux.Handle("GET /docs/{asset}", docs)
}
