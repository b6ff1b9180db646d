package httpapi

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestHead fuzzes whole requests as they arrive on a connection, parsed by net/http's
// own reader: framing headers (Transfer-Encoding, Content-Length, obs-fold), request targets
// and repeated Authorization headers. Whatever net/http lets through, the API never answers
// a 5xx nor a redirect; a request framed by Transfer-Encoding is refused with 400 and
// Connection: close; two Authorization headers never authenticate.
func FuzzRequestHead(f *testing.F) {
	f.Add([]byte("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET * HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: " + basicHeader(testEmail+":"+testPassword) +
		"\r\nAuthorization: Basic eDp5\r\n\r\n"))
	h := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // refused by net/http before any handler
		}
		r.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch {
		case rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400 && rec.Code != http.StatusNotModified):
			t.Fatalf("status %d for %q", rec.Code, raw)
		case len(r.TransferEncoding) > 0 && (rec.Code != http.StatusBadRequest || rec.Header().Get("Connection") != "close"):
			t.Fatalf("Transfer-Encoding answered %d, Connection %q", rec.Code, rec.Header().Get("Connection"))
		case len(r.Header.Values("Authorization")) > 1 && rec.Code < 300 && r.URL.Path != "/healthz":
			if _, ok := rec.Header()["Cache-Control"]; ok { // an account endpoint
				t.Fatalf("two Authorization headers answered %d", rec.Code)
			}
		}
	})
}
