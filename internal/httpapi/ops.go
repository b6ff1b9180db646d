package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"net/http"
	"sync/atomic"
	"time"
)

// readyTimeout bounds the database ping of /readyz, so a probe gets an answer even while the
// database hangs.
const readyTimeout = time.Second

//go:embed openapi.yaml
var openAPIDocument []byte

// statusResponse is the body of a healthy /healthz or /readyz.
type statusResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// handleHealthz answers 200 while the process can serve HTTP at all.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, statusResponse{Status: "ok"})
	})
}

// readiness is what /readyz reports on: the database, and whether the server drains.
type readiness struct {
	db       Pinger
	draining *atomic.Bool
}

// handleReadyz answers 200 when the database answers a ping, and 503 not_ready while it does
// not or once the server drains (see Server.Drain).
func handleReadyz(ready readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready.draining.Load() {
			respondError(w, r, &requestError{
				code:   "not_ready",
				detail: "The service is shutting down.",
				checks: map[string]string{"shutdown": "draining"},
			})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready.db.Ping(ctx); err != nil {
			respondError(w, r, &requestError{
				code:   "not_ready",
				detail: "The database does not answer.",
				checks: map[string]string{"database": "down"},
				err:    err,
			})
			return
		}
		writeJSON(w, r, http.StatusOK, statusResponse{Status: "ok", Checks: map[string]string{"database": "ok"}})
	})
}

// OpenAPIDocument returns the OpenAPI document the service serves at /openapi.yaml, for
// tests that check requests and responses against it.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

// handleOpenAPI serves the OpenAPI document of the API.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPIDocument)
	})
}
