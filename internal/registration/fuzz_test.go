package registration

import (
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora are in testdata/fuzz; `go test` runs them, and
// `go test -run='^$' -fuzz='^FuzzNormalizeEmail$' -fuzztime=2m ./internal/registration`
// explores from them (one target per run).

// FuzzNormalizeEmail checks that whatever NormalizeEmail accepts is a plain, lower-case ASCII
// address that the input spells (up to ASCII case and surrounding white space), that cannot
// carry a header, whose domain is a host name rather than an IP address, and that normalises
// to itself.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", " Alice@Example.COM\t", "\u212aate@example.com", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := NormalizeEmail(in)
		if !ok {
			return
		}
		trimmed := strings.TrimSpace(in)
		switch {
		case !isASCII(trimmed):
			t.Fatalf("NormalizeEmail(%q) accepted non-ASCII input as %q", in, out)
		case !strings.EqualFold(trimmed, out) || len(trimmed) != len(out):
			t.Fatalf("NormalizeEmail(%q) = %q, not the input up to case", in, out)
		case out != strings.ToLower(out) || len(out) > MaxEmailLength || !utf8.ValidString(out):
			t.Fatalf("NormalizeEmail(%q) = %q: not lower case, too long or not UTF-8", in, out)
		case strings.Count(out, "@") != 1 || strings.ContainsAny(out, " \t\r\n\x00\"<>(),;:\\[]"):
			t.Fatalf("NormalizeEmail(%q) = %q: not a plain local@domain address", in, out)
		}
		domain := out[strings.IndexByte(out, '@')+1:]
		if tld := domain[strings.LastIndexByte(domain, '.')+1:]; tld == "" || tld[0] < 'a' || tld[0] > 'z' {
			t.Fatalf("NormalizeEmail(%q) = %q: the top-level label does not begin with a letter", in, out)
		}
		if _, err := netip.ParseAddr(domain); err == nil {
			t.Fatalf("NormalizeEmail(%q) = %q: the domain is an IP address", in, out)
		}
		if again, ok := NormalizeEmail(out); !ok || again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, %v: not idempotent", out, again, ok)
		}
		// What goes into the To header must parse back as exactly this one address.
		if a, err := mail.ParseAddress(out); err != nil || a.Address != out || a.Name != "" {
			t.Fatalf("net/mail parses %q as %v, %v", out, a, err)
		}
	})
}

var fourDigits = regexp.MustCompile(`\A[0-9]{4}\z`)

// FuzzCodeFormat checks the activation code parser against a regular expression: exactly
// four ASCII digits, leading zeros included, and nothing else (no signs, spaces, Unicode
// digits or trailing newline).
func FuzzCodeFormat(f *testing.F) {
	for _, s := range []string{"0427", "427", "04270", "+427", "٠٤٢٧", "0427\n", "12a4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		ok := ValidCode(code)
		if ok != fourDigits.MatchString(code) {
			t.Fatalf("ValidCode(%q) = %v", code, ok)
		}
		if !ok {
			return
		}
		n, err := strconv.Atoi(code)
		if err != nil || fmt.Sprintf("%04d", n) != code {
			t.Fatalf("valid code %q does not read back as a number: %d, %v", code, n, err)
		}
	})
}
