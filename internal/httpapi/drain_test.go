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
	// A connection that served a request begun after Drain returned must close after it,
	// never go idle. Requests are tracked per connection: a response begun before the drain
	// may still keep its connection, however long the machine takes to send it.
	type connKey struct{}
	var drained atomic.Bool
	var mu sync.Mutex
	servedAfterDrain := map[net.Conn]bool{}
	idleAfterDrain := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if drained.Load() {
			mu.Lock()
			servedAfterDrain[r.Context().Value(connKey{}).(net.Conn)] = true
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	srv.Config.ConnState = func(c net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if state == http.StateIdle && servedAfterDrain[c] {
			idleAfterDrain++
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
	mu.Lock()
	defer mu.Unlock()
	if idleAfterDrain != 0 {
		t.Fatalf("%d connections went idle (kept alive) after serving a request during the drain", idleAfterDrain)
	}
}
