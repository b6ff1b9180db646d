package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// testSecret is the CODE_SECRET of every test process: a fixed one, so that processes of one
// test share it as a deployment's would.
const testSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// app is one regapi process run in-process through run().
type app struct {
	base   string
	env    map[string]string
	stdout *syncBuffer
	// header is sent with every request of do, besides its own.
	header http.Header
}

// baseEnv returns settings for a test process on a fresh database: cheap password hashing
// (tests are not about its cost), no per-IP limits, the log provider. HTTP_ADDR has port 0:
// the server binds a port of the system's choosing and logs it, and runApp and spawn read it
// back, so that no other process can take the port between a probe and the bind.
func baseEnv(t *testing.T) map[string]string {
	return map[string]string{
		"DATABASE_URL":          pgtest.NewDatabase(t),
		"HTTP_ADDR":             "127.0.0.1:0",
		"CODE_SECRET":           testSecret,
		"ARGON2_MEMORY_KIB":     "64",
		"ARGON2_ITERATIONS":     "1",
		"RATE_LIMIT_PER_MINUTE": "0",
		"LOG_LEVEL":             "debug",
		// Short: the tests that are about the lame-duck phase set their own.
		"SHUTDOWN_DRAIN": "50ms",
	}
}

// startApp runs `regapi serve` with env until the test ends, then checks that it shut down
// cleanly within the contract's 10 seconds.
func startApp(t *testing.T, env map[string]string) *app {
	t.Helper()
	a, stop := runApp(t, env)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			// What the service said went wrong, for the failure at hand.
			for line := range strings.Lines(a.stdout.String()) {
				if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
					t.Log(strings.TrimSpace(line))
				}
			}
		}
	})
	return a
}

// runApp runs `regapi serve` with env and returns once it is healthy; stop cancels it and
// reports an error unless it returned nil within 10 seconds.
func runApp(t *testing.T, env map[string]string) (*app, func() error) {
	t.Helper()
	env["HTTP_ADDR"] = "127.0.0.1:0"
	a := &app{env: env, stdout: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() { done <- run(ctx, []string{"serve"}, getenv, a.stdout, a.stdout) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("serve returned %w", err)
			}
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("serve did not stop within 10s of cancellation")
		}
	}
	env["HTTP_ADDR"] = listeningAddr(t, a.stdout, done)
	a.base = "http://" + env["HTTP_ADDR"]
	waitHealthy(t, a.base, done)
	return a, stop
}

// listeningAddr waits for the "regapi listening" log line in out and returns its address.
func listeningAddr(t *testing.T, out *syncBuffer, done <-chan error) string {
	t.Helper()
	var addr string
	pollServe(t, done, "serve logged no listening address", func() bool {
		for line := range strings.SplitSeq(out.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "regapi listening" {
				addr = entry.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// pollServe polls cond for up to a minute (a server starts in well under a second, but the
// suite runs in parallel on as few as two loaded cores), failing t with failure when it never
// holds or as soon as the server running in-process (done, nil for another process) exits.
func pollServe(t *testing.T, done <-chan error, failure string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(failure)
}

func waitHealthy(t *testing.T, base string, done <-chan error) {
	t.Helper()
	pollServe(t, done, base+"/healthz did not answer 200", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// response is an HTTP answer with its body decoded as a JSON object.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request with an optional JSON body and Basic Auth credentials (user "" for none).
// It fails t unless the request and the response agree with the served OpenAPI document.
func (a *app) do(t *testing.T, method, path, body, user, pass string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	for k, v := range a.header {
		req.Header[k] = v
	}
	return exchange(t, req, body)
}

// exchange sends req, whose body is body, and returns the answer, failing t unless the request
// and the answer agree with the served OpenAPI document.
func exchange(t *testing.T, req *http.Request, body string) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkExchange(t, req, []byte(body), resp, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (a *app) register(t *testing.T, email, password string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/users", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), "", "")
}

func (a *app) activate(t *testing.T, email, password, code string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/users/me/activate", fmt.Sprintf(`{"code":%q}`, code), email, password)
}

// want fails t unless r has the status and, for an error, the problem code.
func (r response) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if code != "" && r.body["code"] != code {
		t.Fatalf("problem code %v, want %s; body %s", r.body["code"], code, r.raw)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("error with Content-Type %q", r.header.Get("Content-Type"))
	}
}
