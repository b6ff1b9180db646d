package main

import (
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// hasControl reports whether v holds a control character (CR, LF, tab, NUL...): no setting
// takes one, and in an address or a URL it is a header injection waiting to happen.
func hasControl(v string) bool {
	return strings.ContainsFunc(v, unicode.IsControl)
}

// listenAddr reads HTTP_ADDR: host:port with a numeric port (0 to 65535), the host empty, an
// IP address or a name. serve binds it and healthcheck calls it, both through this parser.
func (r *envReader) listenAddr() string {
	const name = "HTTP_ADDR"
	v := r.get(name, ":8080")
	host, port, err := splitHostPort(v)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(port, "+-") ||
		(host != "" && !validHost(host)) {
		r.fail(name, "want host:port with a port from 0 to 65535 (e.g. :8080), got %q", v)
	}
	return v
}

// loadListenAddr reads HTTP_ADDR alone, for healthcheck, which needs no other setting.
func loadListenAddr(getenv func(string) string) (string, error) {
	r := &envReader{getenv: getenv}
	addr := r.listenAddr()
	if len(r.problems) > 0 {
		return "", &ConfigError{Problems: r.problems}
	}
	return addr, nil
}

// sender reads an email address as the providers parse it (RFC 5322: "a@b.example" or
// "Name <a@b.example>"), so that a bad one stops the process at start instead of failing
// every email at send time.
func (r *envReader) sender(name, def string) string {
	v := r.get(name, def)
	a, err := mail.ParseAddress(v)
	if err != nil || hasControl(v) {
		r.fail(name, "want an email address such as no-reply@example.com or \"Name <no-reply@example.com>\", got %q", v)
		return v
	}
	local, domain, _ := strings.Cut(a.Address, "@")
	if local == "" || domain == "" || strings.ContainsFunc(a.Address, unicode.IsSpace) {
		r.fail(name, "want an email address such as no-reply@example.com, got %q", v)
	}
	return v
}

// baseURL reads an http(s) URL that paths are appended to: it may have credentials and a
// path, but no query string or fragment, which appending a path would put in the wrong place.
func (r *envReader) baseURL(name, def string) string {
	before := len(r.problems)
	v := r.httpURL(name, def)
	if len(r.problems) > before {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		// Never echo the value: it may hold a password.
		r.fail(name, "want a base URL without query string or fragment (e.g. http://mailpit:8025)")
	}
	return v
}

// checkURL reports, without echoing the value (it may hold a password), a URL with white
// space, a fragment, a port out of range, or (withHost) a host that is no IP address or DNS
// name. A URL that does not parse is left to the setting's own parser.
func (r *envReader) checkURL(name, v string, withHost bool) {
	u, err := url.Parse(v)
	switch {
	case v == "" || err != nil:
	case strings.ContainsFunc(v, unicode.IsSpace):
		r.fail(name, "contains white space (percent-encode it)")
	case strings.Contains(v, "#"):
		r.fail(name, "has a fragment (#...); percent-encode a # in a password")
	case withHost && !validPort(u.Port(), true):
		r.fail(name, "want a port from 1 to 65535")
	case withHost && !validHost(u.Hostname()):
		r.fail(name, "want an IP address or a DNS name as host")
	}
}

// validPort reports whether port is empty (when optional) or a number from 1 to 65535.
func validPort(port string, optional bool) bool {
	if port == "" {
		return optional
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && !strings.ContainsAny(port, "+-")
}

// validHost reports whether host is an IP address or a DNS name: labels of letters, digits,
// hyphens and underscores, none starting or ending with a hyphen.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(c rune) bool {
				return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
			}) {
			return false
		}
	}
	return true
}
