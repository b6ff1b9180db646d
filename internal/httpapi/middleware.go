package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// maxRequestIDLength bounds a client's X-Request-ID; a longer one is replaced.
const maxRequestIDLength = 128

// requestMeta is what every layer of a request may need to know about it.
type requestMeta struct {
	id       string
	clientIP netip.Addr
	logger   *slog.Logger
}

type metaKey struct{}

func metaFrom(ctx context.Context) *requestMeta {
	if m, ok := ctx.Value(metaKey{}).(*requestMeta); ok {
		return m
	}
	return &requestMeta{logger: slog.New(slog.DiscardHandler)}
}

// loggerFrom returns the request's logger, which tags every line with the request id.
func loggerFrom(ctx context.Context) *slog.Logger { return metaFrom(ctx).logger }

// clientIPFrom returns the client address the request was attributed to.
func clientIPFrom(ctx context.Context) netip.Addr { return metaFrom(ctx).clientIP }

// observe gives each request an id and a logger, recovers from panics, and logs and measures
// the request once it is done.
func observe(next http.Handler, mux *http.ServeMux, logger *slog.Logger, trusted []netip.Prefix, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()

		meta := &requestMeta{id: requestID(r), clientIP: clientIP(r, trusted)}
		meta.logger = logger.With(slog.String("request_id", meta.id))
		w.Header().Set("X-Request-ID", meta.id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r = r.WithContext(context.WithValue(r.Context(), metaKey{}, meta))

		rec := &responseRecorder{ResponseWriter: w, status: http.StatusOK}
		// Deferred, so that an aborted response is logged and measured too.
		defer record(r, rec, routeOf(mux, r), start, m)
		serveRecovered(next, rec, r)
	})
}

// record writes the access log line of a finished request and observes its duration. It
// never logs bodies or headers: they may hold passwords, codes and credentials. The route is
// the matched pattern, never the raw path, so that neither the log nor the metrics grow with
// what clients make up.
func record(r *http.Request, rec *responseRecorder, route string, start time.Time, m *metrics) {
	elapsed := time.Since(start)
	m.duration.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(elapsed.Seconds())
	meta := metaFrom(r.Context())
	meta.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", rec.status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("client_ip", meta.clientIP.String()),
	)
}

// routeOf returns the pattern r matches, or "unmatched".
func routeOf(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	// For CONNECT the mux reports the raw path of a redirect; none of our routes takes CONNECT.
	if pattern == "" || r.Method == http.MethodConnect {
		return "unmatched"
	}
	return pattern
}

// requestID returns the client's X-Request-ID when it is sane enough to log, else a new one.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-ID")
	if id == "" || len(id) > maxRequestIDLength {
		return rand.Text()
	}
	for i := 0; i < len(id); i++ {
		if id[i] < ' ' || id[i] > '~' {
			return rand.Text()
		}
	}
	return id
}

// serveRecovered runs h and turns a panic into a 500 problem. Headers h set before panicking
// are dropped with it. Once the response has begun it can only be cut short, so that the
// client does not take a truncated body for a whole one.
func serveRecovered(h http.Handler, w *responseRecorder, r *http.Request) {
	saved := w.Header().Clone()
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v) // the server's own way to abort a response
		}
		err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		if w.wroteHeader {
			loggerFrom(r.Context()).Error("panic after the response began", slog.String("error", err.Error()))
			panic(http.ErrAbortHandler)
		}
		clear(w.Header())
		maps.Copy(w.Header(), saved)
		respondError(w, r, err)
	}()
	h.ServeHTTP(w, r)
}

// withProblemFallback answers unknown targets and wrong methods with problem+json, where the
// mux itself would write plain text, or redirect: the API never answers a redirect.
func withProblemFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect "*", an empty path (from "http://host" or a CONNECT
		// authority) and unclean paths to a cleaned one; no client of this API needs that.
		if !strings.HasPrefix(r.URL.Path, "/") || uncleanPath(r.URL.Path) {
			respondError(w, r, &requestError{code: "not_found"})
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux answer into a probe to learn which failure it is, and the Allow header.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			respondError(w, r, &requestError{code: "method_not_allowed"})
			return
		}
		// A 404, or a redirect the checks above did not foresee.
		respondError(w, r, &requestError{code: "not_found"})
	})
}

// headerProbe is a ResponseWriter that keeps the status and headers and drops the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// responseRecorder passes a response through, noting its status and size.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (rec *responseRecorder) WriteHeader(status int) {
	if !rec.wroteHeader && status >= 200 {
		rec.status = status
		rec.wroteHeader = true
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *responseRecorder) Write(b []byte) (int, error) {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *responseRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// uncleanPath reports whether p has empty, "." or ".." segments.
func uncleanPath(p string) bool {
	return strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
}
