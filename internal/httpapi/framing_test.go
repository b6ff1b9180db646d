package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// followUp is a second request pipelined after the one under test: a server that reads the
// first one's framing differently from a front proxy would answer it as a request of its own.
const followUp = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// rawExchange sends raw on a fresh connection to srv and returns every response read until
// the server closes the connection, failing t if it keeps it open for more.
func rawExchange(t *testing.T, srv *httptest.Server, raw string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return resps
		}
		if err != nil {
			t.Fatalf("after %d responses, the connection was not closed: %v", len(resps), err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		resps = append(resps, resp)
	}
}

func newRawServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), &stubAccounts{}, stubPinger{}, Limits{}, prometheus.NewRegistry()))
	t.Cleanup(srv.Close)
	return srv
}

func TestAmbiguousFramingIsRefusedAndTheConnectionClosed(t *testing.T) {
	t.Parallel()
	const body = `{"email":"a@example.com","password":"12345678"}`
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	head := "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name, raw string
		status    int
		problem   bool // answered by the API as problem+json, not by net/http as text
	}{
		{"Content-Length and Transfer-Encoding", head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 400, true},
		{"Transfer-Encoding alone", head + "Transfer-Encoding: chunked\r\n\r\n" + chunked, 400, true},
		{"Transfer-Encoding in upper case", head + "Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n\r\n" + chunked, 400, true},
		{"Transfer-Encoding folded onto a second line", head + "Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + chunked, 400, true},
		{"chunked GET", "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"two different Content-Lengths", head + "Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}", 400, false},
		{"a list of Content-Lengths", head + "Content-Length: 2, 2\r\n\r\n{}", 400, false},
		{"a signed Content-Length", head + "Content-Length: +2\r\n\r\n{}", 400, false},
		{"a Content-Length folded onto a second line", head + "Content-Length: 2\r\n 2\r\n\r\n{}", 400, false},
		{"white space before the colon", head + "Content-Length: 2\r\nTransfer-Encoding : chunked\r\n\r\n{}", 400, false},
		{"a transfer coding other than chunked", head + "Content-Length: 2\r\nTransfer-Encoding: gzip\r\n\r\n{}", 501, false},
		{"gzip, chunked", head + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, false},
		{"two Transfer-Encoding fields", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, false},
	}
	srv := newRawServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resps := rawExchange(t, srv, tt.raw+followUp)
			if len(resps) != 1 {
				t.Fatalf("%d responses, want 1 and the connection closed", len(resps))
			}
			resp := resps[0]
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !resp.Close {
				t.Fatalf("the response does not announce Connection: close: %v", resp.Header)
			}
			if tt.problem {
				readProblem(t, resp, tt.status, "malformed_request")
			}
		})
	}
}

func TestHTTP10ConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	// HTTP/1.0 knows no Transfer-Encoding: net/http drops the header and frames by
	// Content-Length, where a front proxy may read chunks. Nothing after the first response is
	// read from such a connection.
	srv := newRawServer(t)
	raw := "POST /v1/users HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n" +
		"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}" + followUp
	resps := rawExchange(t, srv, raw)
	if len(resps) != 1 || resps[0].StatusCode != http.StatusCreated {
		t.Fatalf("%d responses, want one 201 and the connection closed", len(resps))
	}
}

func TestUnambiguousFramingKeepsTheConnection(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t)
	// Two equal Content-Lengths are one (RFC 9110 §8.6); an obs-fold elsewhere is a space.
	raw := "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" +
		"Content-Length: 2\r\nX-Note: a\r\n b\r\n\r\n{}" + followUp + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	resps := rawExchange(t, srv, raw)
	if len(resps) != 3 || resps[0].StatusCode != http.StatusCreated || resps[1].StatusCode != http.StatusOK {
		t.Fatalf("%d responses, want 201, 200, 200 on one connection", len(resps))
	}
}
