package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// A listen address that cannot be bound ends serve at once with one error, rather than
// leaving the email dispatcher running with nothing to stop it.
func TestServeExitsWhenItsPortIsTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t),
		"HTTP_ADDR":    taken.Addr().String(),
		"CODE_SECRET":  testSecret,
	}
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listen on "+env["HTTP_ADDR"]) {
			t.Fatalf("serve returned %v, want a listen error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve still running 5s after its port turned out to be taken")
	}
}

func TestVersionPrintsBuildInformation(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		line := out.String()
		if !strings.HasPrefix(line, "regapi ") || !strings.Contains(line, " commit ") ||
			!strings.Contains(line, runtime.Version()) || strings.Count(line, "\n") != 1 {
			t.Fatalf("%s printed %q, want one line: regapi <version> commit <rev> <go version>", arg, line)
		}
	}
}

func TestMetricsNameTheBuild(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `regapi_build_info{goversion="` + runtime.Version() + `",revision="`
	if !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// Clients that reuse keep-alive connections, as most do, see no connection error across a
// graceful shutdown: for SHUTDOWN_DRAIN /readyz fails and responses say Connection: close
// while requests are still served, and a client that, like a load balancer, stops sending a
// little after readiness failed is never cut off.
func TestKeepAliveClientsCrossAShutdownWithoutErrors(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["SHUTDOWN_DRAIN"] = "1s"
	a, stop := runApp(t, env)
	var failures, closes, unready atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{}, 4)
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			var stopAt time.Time
			for i := 0; stopAt.IsZero() || time.Now().Before(stopAt); i++ {
				if i == 20 {
					started <- struct{}{}
				}
				resp, err := client.Get(a.base + "/readyz")
				if err != nil {
					failures.Add(1)
					t.Errorf("request %d: %v", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Close {
					closes.Add(1)
				}
				if resp.StatusCode == http.StatusServiceUnavailable && stopAt.IsZero() {
					unready.Add(1)
					stopAt = time.Now().Add(300 * time.Millisecond)
				}
			}
		})
	}
	for range 4 {
		<-started
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if failures.Load() != 0 || unready.Load() != 4 || closes.Load() == 0 {
		t.Fatalf("failures %d, clients that saw /readyz fail %d of 4, Connection: close answers %d",
			failures.Load(), unready.Load(), closes.Load())
	}
}
