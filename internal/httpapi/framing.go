package httpapi

import "net/http"

// refuseAmbiguousFraming refuses, with 400 malformed_request and Connection: close, every
// request whose body is framed by Transfer-Encoding, and closes every HTTP/1.0 connection
// after its response.
//
// A request with both Content-Length and Transfer-Encoding is how requests are smuggled past
// a front proxy that reads the other header (RFC 9112 §6.1, §11.2). net/http deletes the
// Content-Length of a chunked request before any handler runs, so "both" cannot be told from
// "chunked alone"; the API's bodies are small JSON objects that every client sends with a
// Content-Length, so chunked requests are refused whole, and the connection is closed so that
// whatever followed the refused head is never read as a request. net/http itself refuses the
// other ambiguities before a handler runs (two different Content-Lengths or an invalid one:
// 400; a transfer coding other than one "chunked": 501), closing the connection too.
//
// HTTP/1.0 has no Transfer-Encoding: net/http ignores the header there and frames by
// Content-Length, where a front proxy may not. The RFC asks to treat such framing as faulty
// and close the connection; since net/http removes the header unseen, every HTTP/1.0
// connection is closed after its response.
func refuseAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
			w.Header().Set("Connection", "close")
		}
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			respondError(w, r, &requestError{
				code:   "malformed_request",
				detail: "Transfer-Encoding is not accepted: send the body with a Content-Length.",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}
