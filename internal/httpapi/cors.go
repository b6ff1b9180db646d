package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The CORS answers (Fetch standard, "CORS protocol"). Credentials travel in the Authorization
// header a page's script sets, never in cookies, so no origin is ever allowed credentials.
const (
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key"
	corsExposeHeaders = "Location, Retry-After, Idempotent-Replayed"
	// corsMaxAge is how long, in seconds, a browser may reuse a preflight's answer: long
	// enough to spare most preflights, short enough that a changed list takes hold soon.
	corsMaxAge = "600"
)

// Option changes how NewServer builds the API.
type Option func(*options)

type options struct {
	origins map[string]bool
	retries *retries // nil: the Idempotency-Key header is ignored
}

// AllowOrigins lets pages of the given origins call the API from a browser (CORS). Each origin
// must be as ParseOrigin returns it; without this option no origin is allowed and no response
// carries a CORS header.
func AllowOrigins(origins ...string) Option {
	return func(o *options) {
		for _, origin := range origins {
			o.origins[origin] = true
		}
	}
}

// ParseOrigin checks that s is one exact web origin, scheme://host[:port] with the scheme
// http or https and nothing after the authority, and returns it in the form a browser sends
// in its Origin header: lower case, without the scheme's default port. A wildcard, a path, a
// query or credentials are errors: each origin allowed is listed on its own.
func ParseOrigin(s string) (string, error) {
	const want = "want scheme://host[:port], e.g. https://app.example.com"
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%q: a wildcard is not allowed, list each origin", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an origin (%s)", s, want)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Opaque != "" || u.User != nil || u.Hostname() == "" ||
		strings.HasSuffix(u.Host, ":") || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%q is not an origin (%s)", s, want)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	port := u.Port()
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		return "", fmt.Errorf("%q has an invalid port (%s)", s, want)
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + host + ":" + port, nil
}

// exposeToOrigins is the outermost layer: when origins are configured every response varies
// by Origin, and a response to an allowed origin names it and exposes the headers a page
// needs. It runs before the panic recovery, so that a 500 reaches the page too.
func exposeToOrigins(next http.Handler, origins map[string]bool) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origins[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// answerPreflights answers CORS preflight requests: for an allowed origin and a known path,
// 204 with the methods the mux routes for that path; for any other origin 403. Other requests,
// and preflights of unknown paths (404), go on to next.
func answerPreflights(next http.Handler, mux *http.ServeMux, origins map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !origins[r.Header.Get("Origin")] {
			respondError(w, r, &requestError{code: "origin_not_allowed"})
			return
		}
		methods := allowedMethods(mux, r)
		if methods == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// allowedMethods returns the methods the mux routes for r's path, as its Allow header of a
// 405 lists them, or "" when the path is unknown. No route takes OPTIONS, so the mux answers
// every known path's OPTIONS with 405 and that header.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	if !strings.HasPrefix(r.URL.Path, "/") || uncleanPath(r.URL.Path) {
		return ""
	}
	h, pattern := mux.Handler(r)
	if pattern != "" {
		return "" // a route took OPTIONS after all: it answers for itself
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status != http.StatusMethodNotAllowed {
		return ""
	}
	return probe.header.Get("Allow")
}
