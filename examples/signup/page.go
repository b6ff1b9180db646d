// Package signup is an example sign-up page for regapi: one static HTML file with a small
// script, served from an origin of its own, that calls the API across origins (CORS).
package signup

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

//go:embed index.html
var page []byte

// apiMeta is the line of the page that names the API's base URL.
var apiMeta = regexp.MustCompile(`<meta name="regapi-api" content="[^"]*">`)

// inline matches the page's inline script and style, whose hashes its Content-Security-Policy
// allows.
var inline = regexp.MustCompile(`(?s)<(script|style)>(.*?)</(?:script|style)>`)

// Handler serves the page at "/" with api (an http or https URL, the API's base) filled in,
// under a Content-Security-Policy that lets it run its own script and style and talk to api
// only. It returns an error when api is not such a URL.
func Handler(api string) (http.Handler, error) {
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("API URL %q: want http(s)://host[:port]", api)
	}
	api = strings.TrimRight(api, "/")
	body := apiMeta.ReplaceAll(page, []byte(`<meta name="regapi-api" content="`+html.EscapeString(api)+`">`))
	sources := map[string][]string{}
	for _, m := range inline.FindAllSubmatch(body, -1) {
		sum := sha256.Sum256(m[2])
		sources[string(m[1])] = append(sources[string(m[1])], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	csp := fmt.Sprintf("default-src 'none'; script-src %s; style-src %s; connect-src %s; "+
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		strings.Join(sources["script"], " "), strings.Join(sources["style"], " "), u.Scheme+"://"+u.Host)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}
