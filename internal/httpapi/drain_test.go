package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDrainFailsReadinessAndClosesConnections(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil, Limits{})
	requests := func() []*http.Request {
		return []*http.Request{
			jsonRequest("GET", "/healthz", ""),
			jsonRequest("POST", "/v1/users", `{}`),
			authed(jsonRequest("GET", "/v1/users/me", "")),
			jsonRequest("GET", "/nope", ""),
		}
	}
	for _, r := range requests() {
		if got := s.do(r).Header.Get("Connection"); got != "" {
			t.Fatalf("%s %s before Drain: Connection = %q", r.Method, r.URL, got)
		}
	}
	readJSON(t, s.do(jsonRequest("GET", "/readyz", "")), http.StatusOK)

	s.handler.(*Server).Drain()
	s.handler.(*Server).Drain() // twice is once
	p := readProblem(t, s.do(jsonRequest("GET", "/readyz", "")), http.StatusServiceUnavailable, "not_ready")
	if p.Checks["shutdown"] != "draining" {
		t.Fatalf("checks = %v, want shutdown: draining", p.Checks)
	}
	// Requests are still served as before, each asking the client to reconnect.
	wantStatus := []int{200, 201, 200, 404}
	for i, r := range requests() {
		resp := s.do(r)
		if resp.StatusCode != wantStatus[i] || resp.Header.Get("Connection") != "close" {
			t.Fatalf("%s %s while draining: %d, Connection %q; want %d, close",
				r.Method, r.URL, resp.StatusCode, resp.Header.Get("Connection"), wantStatus[i])
		}
	}
}

// TestKeepAliveClientsSeeNoErrorAcrossADrainedShutdown runs the lame-duck sequence over real
// connections: keep-alive clients send without pause; the server drains, the clients (as a
// load balancer would) stop sending once told the server is not ready, and the server shuts
// down. No request fails, and no keep-alive connection is left idle for Shutdown to cut.
func TestKeepAliveClientsSeeNoErrorAcrossADrainedShutdown(t *testing.T) {
	t.Parallel()
	h := NewServer(slog.New(slog.DiscardHandler), &stubAccounts{}, stubPinger{}, Limits{}, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	var drained atomic.Bool
	var idleAfterDrain atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateIdle && drained.Load() {
			idleAfterDrain.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(srv.URL+"/v1/users", "application/json", strings.NewReader(`{}`))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // keep-alive connections in use
	h.Drain()
	time.Sleep(20 * time.Millisecond) // responses already on their way may still keep theirs
	drained.Store(true)
	time.Sleep(200 * time.Millisecond) // the drain: everything is still served
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if failed.Load() != 0 || sent.Load() == 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), sent.Load())
	}
	if n := idleAfterDrain.Load(); n != 0 {
		t.Fatalf("%d connections went idle (kept alive) during the drain", n)
	}
}
