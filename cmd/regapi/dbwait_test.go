package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockTables takes the ACCESS EXCLUSIVE lock of tables in a transaction of its own, as a
// migration altering them does (or a server that stalls), and returns the function that
// ends it; the test's end ends it too.
func lockTables(t *testing.T, databaseURL string, tables string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+tables+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// timed returns how long fn took.
func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// While the tables a request needs are locked away, requests answer 503 unavailable with
// Retry-After within a few seconds instead of queueing until the lock goes, /readyz says
// the database does not answer in time, and a client that gives up meanwhile is no 500 in
// the log. When the lock goes, the same process serves again.
func TestRequestsDoNotWaitOnALockedDatabase(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	a.register(t, "owner@example.com", "password-1234").want(t, http.StatusCreated, "")

	release := lockTables(t, env["DATABASE_URL"], "users, outbox")
	var ready response
	if took := timed(func() { ready = a.do(t, http.MethodGet, "/readyz", "", "", "") }); ready.status != http.StatusServiceUnavailable || took > 3*time.Second {
		t.Fatalf("/readyz while the tables are locked: %d after %s, want 503 within 3s", ready.status, took)
	}
	for name, req := range map[string]func() response{
		"registration": func() response { return a.register(t, "new@example.com", "password-1234") },
		"login": func() response {
			return a.do(t, http.MethodGet, "/v1/users/me", "", "owner@example.com", "password-1234")
		},
	} {
		var r response
		took := timed(func() { r = req() })
		if took > 8*time.Second {
			t.Fatalf("%s waited %s on the lock", name, took)
		}
		r.want(t, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After", name)
		}
	}

	// A client that gives up while its request waits.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/v1/users",
		strings.NewReader(`{"email":"impatient@example.com","password":"password-1234"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the impatient request was answered %d while the tables were locked", resp.StatusCode)
	}
	waitUntil(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(a.stdout.String(), `"status":499`), "no access log line with status 499"
	})

	release()
	a.do(t, http.MethodGet, "/readyz", "", "", "").want(t, http.StatusOK, "")
	a.register(t, "new@example.com", "password-1234").want(t, http.StatusCreated, "")
	for line := range strings.SplitSeq(a.stdout.String(), "\n") {
		if strings.Contains(line, `"status":500`) || strings.Contains(line, `"code":"internal_error"`) {
			t.Errorf("logged: %s", line)
		}
	}
}
