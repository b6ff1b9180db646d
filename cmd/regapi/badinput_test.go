package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBadInput sends what a careless or hostile client might: NUL bytes, invalid UTF-8, line
// breaks meant to inject email headers, look-alike and internationalised addresses, and
// oversized fields. Each must get a clear 4xx (or, where it is harmless, be accepted as
// documented), never a 500. The documented decision: only plain ASCII addresses are accepted,
// compared case-insensitively; IDN and Unicode addresses are refused with 422 (an IDN may be
// registered in its ASCII xn-- form).
func TestBadInput(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	const pass = "password-1234"
	registrations := []struct {
		name, body string
		status     int
		code       string
	}{
		{"NUL in the address", `{"email":"nul\u0000@example.com","password":"password-1234"}`, 422, "validation_failed"},
		{"raw NUL in the JSON", "{\"email\":\"nul\x00@example.com\",\"password\":\"password-1234\"}", 400, "malformed_request"},
		{"invalid UTF-8 in the password", "{\"email\":\"utf@example.com\",\"password\":\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"}", 400, "malformed_request"},
		{"invalid UTF-8 in the address", "{\"email\":\"utf\xff@example.com\",\"password\":\"password-1234\"}", 400, "malformed_request"},
		{"CR LF header injection", `{"email":"victim@example.com\r\nBcc: mallory@example.net","password":"password-1234"}`, 422, "validation_failed"},
		{"LF header injection", `{"email":"victim@example.com\nBcc: mallory@example.net","password":"password-1234"}`, 422, "validation_failed"},
		{"injection in the local part", `{"email":"victim\r\nBcc: mallory@example.net","password":"password-1234"}`, 422, "validation_failed"},
		{"Cyrillic look-alike", `{"email":"\u0430lice@example.com","password":"password-1234"}`, 422, "validation_failed"},
		{"Kelvin sign, which lower-cases to k", `{"email":"\u212aate@example.com","password":"password-1234"}`, 422, "validation_failed"},
		{"fullwidth letters", `{"email":"\uff41lice@example.com","password":"password-1234"}`, 422, "validation_failed"},
		{"Unicode local part", `{"email":"j\u00fcrgen@example.com","password":"password-1234"}`, 422, "validation_failed"},
		{"IDN domain", `{"email":"user@b\u00fccher.de","password":"password-1234"}`, 422, "validation_failed"},
		{"IDN domain in ASCII form", `{"email":"user@xn--bcher-kva.de","password":"password-1234"}`, 201, ""},
		{"address of 255 characters", fmt.Sprintf(`{"email":"%s@example.com","password":"password-1234"}`, strings.Repeat("a", 243)), 422, "validation_failed"},
		{"password of 1025 bytes", fmt.Sprintf(`{"email":"long@example.com","password":"%s"}`, strings.Repeat("p", 1025)), 422, "validation_failed"},
		{"deeply nested JSON", `{"email":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, 400, "malformed_request"},
	}
	for _, r := range registrations {
		a.do(t, http.MethodPost, "/v1/users", r.body, "", "").want(t, r.status, r.code)
	}

	// Trailing CR LF is white space around the address: trimmed, and nothing is injected.
	got := a.do(t, http.MethodPost, "/v1/users", `{"email":"trimmed@example.com\r\n","password":"password-1234"}`, "", "")
	got.want(t, http.StatusCreated, "")
	if got.body["email"] != "trimmed@example.com" {
		t.Fatalf("stored address %q", got.body["email"])
	}

	// Case folds, ASCII only: one account, whatever the case.
	a.register(t, "Mixed.Case@Example.COM", pass).want(t, http.StatusCreated, "")
	a.register(t, "mixed.case@example.com", pass).want(t, http.StatusConflict, "email_taken")
	a.do(t, http.MethodGet, "/v1/users/me", "", "MIXED.CASE@EXAMPLE.COM", pass).want(t, http.StatusOK, "")
	a.do(t, http.MethodGet, "/v1/users/me", "", "mixed.case@example.\u212aom", pass).want(t, http.StatusUnauthorized, "unauthorized")

	// A NUL inside a password is just a character: it registers and logs in.
	a.do(t, http.MethodPost, "/v1/users", `{"email":"nulpass@example.com","password":"pass\u0000word-1234"}`, "", "").
		want(t, http.StatusCreated, "")
	a.do(t, http.MethodGet, "/v1/users/me", "", "nulpass@example.com", "pass\x00word-1234").want(t, http.StatusOK, "")

	// Credentials that cannot be anyone's.
	for _, cred := range [][2]string{
		{"nul\x00@example.com", pass},
		{"mixed.case@example.com", "\xff\xfe"},
		{"mixed.case@example.com\r\nX-Injected: 1", pass},
		{"mixed.case@example.com", strings.Repeat("p", 20000)}, // a long header, within the limit
	} {
		a.do(t, http.MethodGet, "/v1/users/me", "", cred[0], cred[1]).want(t, http.StatusUnauthorized, "unauthorized")
	}
}

// TestHostileConnections talks raw HTTP to the server: oversized or broken headers are
// refused by the server with a 4xx before any handler runs, and clients that send too slowly
// are cut off after the server's read timeouts (ReadHeaderTimeout 5s, ReadTimeout 15s):
// neither hangs a connection for ever nor gets a 500.
func TestHostileConnections(t *testing.T) {
	skipSlowFaults(t)
	t.Parallel()
	a := startApp(t, baseEnv(t))
	addr := strings.TrimPrefix(a.base, "http://")
	body := `{"email":"raw@example.com","password":"password-1234"}`
	requests := []struct {
		name, request string
		status        int
	}{
		{"headers over 32 KiB", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431},
		{"NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n", 400},
		{"bare LF in a header value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
		{"both Content-Length and chunked", "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"2,000 X-Forwarded-For hops", "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"X-Forwarded-For: " + strings.TrimSuffix(strings.Repeat("198.51.100.1,", 2000), ",") + "\r\n" +
			fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body), 201},
	}
	for _, r := range requests {
		status, err := rawStatus(addr, r.request, nil, 10*time.Second)
		if err != nil || status != r.status {
			t.Errorf("%s: status %d (%v), want %d", r.name, status, err, r.status)
		}
	}

	// The slow clients take the server's timeouts to be cut off: run them together.
	slow := []struct {
		name, start string
		trickle     string
		within      time.Duration
	}{
		{"slow-loris headers", "POST /v1/users HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + strings.Repeat("a", 60), 7 * time.Second},
		{"slow body", "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
			strings.Repeat(" ", 100), 18 * time.Second},
	}
	var wg sync.WaitGroup
	for _, s := range slow {
		wg.Go(func() {
			start := time.Now()
			status, err := rawStatus(addr, s.start, []byte(s.trickle), s.within+5*time.Second)
			took := time.Since(start)
			switch {
			case took > s.within:
				t.Errorf("%s: connection held for %s", s.name, took)
			case err == nil && (status < 400 || status >= 500):
				t.Errorf("%s: status %d after %s", s.name, status, took)
			case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err):
				t.Errorf("%s: %v after %s", s.name, err, took)
			default:
				t.Logf("%s: cut off after %s (status %d, %v)", s.name, took.Round(100*time.Millisecond), status, err)
			}
		})
	}
	wg.Wait()
}

// rawStatus writes request to addr, then trickle one byte every 200ms, and returns the status
// of the answer, or the error that ended the connection without one.
func rawStatus(addr, request string, trickle []byte, timeout time.Duration) (int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(conn, request); err != nil {
		return 0, err
	}
	answered := make(chan struct{})
	defer close(answered)
	go func() {
		for _, b := range trickle {
			select {
			case <-answered:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}
