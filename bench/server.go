package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is one regapi process under test, with its own fresh database.
type server struct {
	name, url   string
	tag         int // tells its addresses from those of other servers of the run
	dbName      string
	databaseURL string
	cmd         *exec.Cmd
	logFile     *os.File
	exited      chan error
	pprofAddr   string // set from the server's log, with wantPprof
	wantPprof   bool
	users       atomic.Int64
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) nextUser() int64 { return s.users.Add(1) }

// startServer creates a fresh database, migrates it and starts `regapi serve` on it (see
// serveOn); the database is dropped when the server stops.
func (b *bench) startServer(ctx context.Context, name string, extra map[string]string) (*server, error) {
	b.seq++
	dbName := fmt.Sprintf("regapi_bench_%s_%d", b.runID, b.seq)
	databaseURL, err := createDatabase(ctx, b.o.adminURL, dbName)
	if err != nil {
		return nil, err
	}
	s, err := b.serveOn(ctx, name, databaseURL, extra, nil)
	if err != nil {
		dropDatabase(b, dbName)
		return nil, err
	}
	s.dbName = dbName
	return s, nil
}

// serveOn migrates the database at databaseURL, runs prepare on it when not nil, and starts
// `regapi serve` on a free local port with the fake email provider, per-IP limits off (all
// load comes from one address) and codes valid for an hour (accounts wait a while between
// registering and activating). extra overrides or adds settings. It returns once /readyz
// answers 200. The database outlives the server.
func (b *bench) serveOn(ctx context.Context, name, databaseURL string, extra map[string]string,
	prepare func(context.Context, string) error) (*server, error) {
	b.servers++
	s := &server{name: name, tag: b.servers, databaseURL: databaseURL, exited: make(chan error, 1)}
	serverURL, err := withParams(s.databaseURL, b.o.dbParams)
	if err != nil {
		return nil, err
	}
	env := b.serverEnv(serverURL)
	if b.o.pprof {
		s.wantPprof = true
		env["REGAPI_PPROF_ADDR"] = "127.0.0.1:0"
	}
	for k, v := range extra {
		env[k] = v
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	migrate := exec.CommandContext(ctx, b.o.regapi, "migrate", "up")
	migrate.Env = environ
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s migrate up: %w: %s", b.o.regapi, err, bytes.TrimSpace(out))
	}
	if prepare != nil {
		if err := prepare(ctx, databaseURL); err != nil {
			return nil, err
		}
	}
	if err := s.start(ctx, b, environ); err != nil {
		return nil, err
	}
	b.logf("regapi (%s) serving on %s, database %s", name, s.url, databaseName(databaseURL))
	if s.pprofAddr != "" {
		b.logf("regapi (%s) profiler on http://%s/debug/pprof/", name, s.pprofAddr)
	}
	return s, nil
}

// imageGODEBUG is the GODEBUG that regapi's image sets (see the Dockerfile): the benchmark
// measures regapi as it is shipped.
const imageGODEBUG = "asyncpreemptoff=1"

// serverEnv is the environment of every regapi under test; -server-env adds to it. The
// server binds a port of the system's choosing and logs it (see start).
func (b *bench) serverEnv(databaseURL string) map[string]string {
	env := map[string]string{
		"GODEBUG":               imageGODEBUG,
		"PATH":                  os.Getenv("PATH"),
		"HOME":                  os.Getenv("HOME"),
		"DATABASE_URL":          databaseURL,
		"HTTP_ADDR":             "127.0.0.1:0",
		"MAIL_PROVIDER":         "mailpit",
		"MAILPIT_URL":           b.provider.url,
		"CODE_SECRET":           b.codeSecret,
		"ACTIVATION_CODE_TTL":   "1h",
		"RATE_LIMIT_PER_MINUTE": "0",
	}
	for k, v := range b.o.serverEnv {
		env[k] = v
	}
	return env
}

func (s *server) start(ctx context.Context, b *bench, environ []string) error {
	var err error
	if s.logFile, err = os.CreateTemp("", "regapi-bench-*.log"); err != nil {
		return err
	}
	s.cmd = exec.Command(b.o.regapi, "serve")
	s.cmd.Env = environ
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.cleanup(b)
		return fmt.Errorf("start %s serve: %w", b.o.regapi, err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		tail := s.logTail()
		s.stop(b)
		return fmt.Errorf("regapi (%s) did not become ready: %w; its log ends with:\n%s", s.name, err, tail)
	}
	return nil
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("it exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if s.url == "" && !s.readAddrs() {
			continue
		}
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("no 200 from /readyz within %s", limit)
}

// readAddrs reads the addresses the server logged it listens on (the API's, and the
// profiler's when asked for) into s, and reports whether it found them.
func (s *server) readAddrs() bool {
	data, err := os.ReadFile(s.logFile.Name())
	if err != nil {
		return false
	}
	var api, pprof string
	for line := range strings.Lines(string(data)) {
		var entry struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "regapi listening" {
			api = entry.Addr
		}
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "pprof listening on "); ok {
			pprof = a
		}
	}
	if api == "" || (s.wantPprof && pprof == "") {
		return false
	}
	s.url, s.pprofAddr = "http://"+api, pprof
	return true
}

// stop sends SIGTERM, waits for the exit (killing after 15 s) and drops the database, if
// the server made it.
func (s *server) stop(b *bench) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.exited:
			if err != nil {
				b.logf("regapi (%s) exited: %v", s.name, err)
			}
		case <-time.After(15 * time.Second):
			b.logf("regapi (%s) did not exit within 15s of SIGTERM; killing it", s.name)
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.cleanup(b)
}

func (s *server) cleanup(b *bench) {
	if s.logFile != nil {
		s.logFile.Close()
		os.Remove(s.logFile.Name())
	}
	s.dropDatabase(b)
}

func (s *server) dropDatabase(b *bench) {
	if s.dbName != "" {
		dropDatabase(b, s.dbName)
	}
}

func dropDatabase(b *bench, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.o.adminURL)
	if err != nil {
		b.logf("drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		b.logf("drop database %s: %v", name, err)
	}
}

// databaseName is the database a PostgreSQL URL names.
func databaseName(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(u.Path, "/")
}

// logTail returns the last few KiB of the server's output.
func (s *server) logTail() string {
	data, err := os.ReadFile(s.logFile.Name())
	if err != nil {
		return err.Error()
	}
	return string(data[max(0, len(data)-4096):])
}

// profileDuring fetches a CPU profile of the server covering the window that starts after
// wait and lasts d, into the output directory; the returned function waits for it and
// returns it, nil when none could be taken.
func (s *server) profileDuring(b *bench, wait, d time.Duration, file string) func() []byte {
	done := make(chan []byte, 1)
	go func() {
		data, err := s.fetchProfile(wait, d)
		if err == nil {
			path := filepath.Join(b.o.out, file)
			if err = os.WriteFile(path, data, 0o644); err == nil {
				b.logf("pprof: CPU profile written to %s (go tool pprof -top %s %s)", path, b.o.regapi, path)
			}
		}
		if err != nil {
			b.logf("pprof: %v", err)
			data = nil
		}
		done <- data
	}()
	return func() []byte { return <-done }
}

// fetchProfile waits, then fetches a CPU profile of the server lasting d.
func (s *server) fetchProfile(wait, d time.Duration) ([]byte, error) {
	time.Sleep(wait)
	u := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprofAddr, int(d.Seconds()))
	resp, err := http.Get(u)
	if err != nil {
		return nil, fmt.Errorf("%w (is regapi built with -tags pprof?)", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return data, err
}

// createDatabase creates database name next to adminURL's and returns its URL.
func createDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL (-admin-url): %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", errors.New("-admin-url: not a URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// withParams adds the query parameters params (a=1&b=2) to the URL u.
func withParams(u, params string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	extra, err := url.ParseQuery(params)
	if err != nil {
		return "", fmt.Errorf("-db-params: %w", err)
	}
	q := parsed.Query()
	for k, vs := range extra {
		q[k] = vs
	}
	parsed.RawQuery = q.Encode()
	return parsed.String(), nil
}

// counters reads regapi's /metrics: its garbage collector's CPU time (the runtime's
// estimate, /cpu/classes/gc/total:cpu-seconds, its pauses counted as collectorTime says), its
// collections (the count of the Go collector's pause summary) and how long its hash slots
// were held.
func (s *server) counters() counters {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return counters{}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return counters{}
	}
	var c counters
	var total, pause, procs float64
	found := 0
	for line := range strings.Lines(string(data)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_cpu_classes_gc_total_cpu_seconds_total":
			total, found = f, found+1
		case "go_cpu_classes_gc_pause_cpu_seconds_total":
			pause, found = f, found+1
		case "go_sched_gomaxprocs_threads":
			procs, found = f, found+1
		case "go_gc_duration_seconds_count":
			c.gcCycles, found = int64(f), found+1
		case "regapi_password_hash_busy_seconds_total":
			c.hashBusy, found = seconds(f), found+1
		}
	}
	c.gc, c.gcPause = collectorTime(total, pause, procs)
	c.ok = found == 5
	return c
}
