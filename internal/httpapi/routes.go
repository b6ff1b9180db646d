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
	registrations *limiter,
	health Pinger,
	reg *prometheus.Registry,
	m *metrics,
) {
	mux.Handle("POST /v1/users", noStore(handleRegister(accounts, registrations, m.registrations)))
	mux.Handle("GET /v1/users/me", noStore(handleMe(auth)))
	mux.Handle("POST /v1/users/me/activate", noStore(handleActivate(accounts, auth, m.activations)))
	mux.Handle("POST /v1/users/me/activation-code", noStore(handleResend(accounts, auth, m.resends)))

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(health))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /openapi.yaml", handleOpenAPI())
	docs := handleDocs()
	mux.Handle("GET /docs", docs)
	mux.Handle("GET /docs/{$}", docs)
	mux.Handle("GET /docs/{asset}", docs)
}
