package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestUnknownTargetsAreNotFoundNeverRedirected(t *testing.T) {
	t.Parallel()
	h := NewServer(slog.New(slog.DiscardHandler), &stubAccounts{}, stubPinger{}, Limits{}, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	// As regapi serve does: net/http would answer OPTIONS * itself, with a bare 200.
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	t.Cleanup(srv.Close)
	targets := []string{
		"GET *", "HEAD *", "POST *", "DELETE *", "OPTIONS *", "CONNECT *",
		"GET http://other.host", "GET http://other.host/", "GET https://other.host/v1/users/me/",
		"GET http://other.host//healthz", "GET http://other.host/v1/../healthz",
		"GET other.host:80", "CONNECT other.host:443",
		"GET /v1/../healthz", "GET //healthz", "GET /healthz/..", "GET /./healthz",
		"GET /v1%2Fusers", "GET /v1/users%2Fme", "GET /v1/%2e%2e/healthz", "GET /docs/..%2fopenapi.yaml",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			resps := rawExchange(t, srv, target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if len(resps) != 1 {
				t.Fatalf("%d responses, want 1", len(resps))
			}
			if loc := resps[0].Header.Get("Location"); loc != "" {
				t.Fatalf("status %d with Location %q", resps[0].StatusCode, loc)
			}
			if target[:4] == "HEAD" {
				if resps[0].StatusCode != http.StatusNotFound {
					t.Fatalf("status %d, want 404", resps[0].StatusCode)
				}
				return
			}
			readProblem(t, resps[0], http.StatusNotFound, "not_found")
		})
	}
}

func TestAbsoluteFormReachesKnownPaths(t *testing.T) {
	t.Parallel()
	// RFC 9112 §3.2.2: a server accepts the absolute form; the host in it is not ours to judge.
	srv := newRawServer(t)
	resps := rawExchange(t, srv, "GET http://other.host/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusOK {
		t.Fatalf("%d responses, want one 200", len(resps))
	}
}
