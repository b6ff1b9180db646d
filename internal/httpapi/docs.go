package httpapi

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
)

// docsFiles is the interactive documentation page and the Swagger UI files it loads, vendored
// so that the page works without the internet (see docs/README.md for the version).
//
//go:embed docs/index.html docs/init.js docs/swagger-ui.css docs/swagger-ui-bundle.js
//go:embed docs/favicon-32x32.png docs/LICENSE docs/NOTICE docs/swagger-ui-bundle.js.LICENSE.txt
var docsFiles embed.FS

// docsPolicy lets the documentation page load only its own files, call only this service and
// run no inline script; Swagger UI needs inline styles and data: images.
const docsPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// docsTypes are the media types of the documentation files, fixed here rather than taken from
// the machine's MIME database, which varies.
var docsTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
}

// docsAsset is one embedded file as served.
type docsAsset struct {
	body        []byte
	contentType string
	etag        string
}

// loadDocsAssets reads every embedded documentation file, keyed by its name; it panics if the
// embedded tree is broken, which only a bad build can cause.
func loadDocsAssets() map[string]docsAsset {
	entries, err := docsFiles.ReadDir("docs")
	if err != nil {
		panic(err)
	}
	assets := make(map[string]docsAsset, len(entries))
	for _, e := range entries {
		body, err := docsFiles.ReadFile("docs/" + e.Name())
		if err != nil {
			panic(err)
		}
		ctype, ok := docsTypes[path.Ext(e.Name())]
		if !ok {
			ctype = "text/plain; charset=utf-8" // the licence texts
		}
		sum := sha256.Sum256(body)
		assets[e.Name()] = docsAsset{body: body, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	return assets
}

// handleDocs serves the documentation page at /docs (and /docs/) and its files at
// /docs/{asset}; an unknown asset is 404 not_found. Browsers revalidate with the ETag, so an
// upgrade shows at once.
func handleDocs() http.Handler {
	assets := loadDocsAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("asset")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			respondError(w, r, &requestError{code: "not_found"})
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", docsPolicy)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", a.contentType)
		_, _ = w.Write(a.body)
	})
}
