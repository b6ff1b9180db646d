package registration

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	long254 := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"  Alice@Example.COM \t", "alice@example.com", true},
		{"first.last+tag@sub.example.co", "first.last+tag@sub.example.co", true},
		{"o'neil@example.com", "o'neil@example.com", true},
		{"", "", false},
		{"alice", "", false},
		{"alice@", "", false},
		{"@example.com", "", false},
		{"alice@@example.com", "", false},
		{"al ice@example.com", "", false},
		{"alice@localhost", "", false},
		{".alice@example.com", "", false},
		{"al..ice@example.com", "", false},
		{"alice@-example.com", "", false},
		{"alice@example..com", "", false},
		{"\"alice\"@example.com", "", false},
		{"Alice <alice@example.com>", "", false},
		{"alice@example.com\r\nBcc: x@example.com", "", false},
		{"alice\x00@example.com", "", false},
		{"аlice@example.com", "", false},     // Cyrillic а
		{"\u212aate@example.com", "", false}, // Kelvin sign, which lower-cases to "k"
		{"\u0130nes@example.com", "", false}, // İ, which lower-cases to "i"
		{"alice@\u212aexample.com", "", false},
		{"ａlice@example.com", "", false},                           // fullwidth a
		{"alice@xn--bcher-kva.de", "alice@xn--bcher-kva.de", true}, // an IDN in its ASCII form
		{"alice@bücher.de", "", false},
		{strings.Repeat("a", 65) + "@example.com", "", false},
		// The domain is a host name: no IP address in any spelling, no numeric top level.
		{"a@127.0.0.1", "", false},
		{"a@10.0.0.5", "", false},
		{"a@169.254.169.254", "", false},
		{"a@example.123", "", false},
		{"a@1.2", "", false},
		{"a@0x7f.0.0.0x1", "", false},
		{"a@0177.0.0.01", "", false},
		{"a@example.0x1", "", false},
		{"a@example.1com", "", false},
		{"a@[10.0.0.1]", "", false},
		{"a@[ipv6:::1]", "", false},
		{"a@[::1]", "", false},
		{"a@::ffff:127.0.0.1", "", false},
		{"a@app.localhost", "", false},
		{"a@10.0.0.5.example.com", "a@10.0.0.5.example.com", true},
		{"a@123.example", "a@123.example", true},
		{"a@example.xn--p1ai", "a@example.xn--p1ai", true},
		{"a@example.localhost.com", "a@example.localhost.com", true},
		{long254, long254, true},
		{strings.Replace(long254, ".d", ".dd", 1), "", false}, // 255 characters
	}
	for _, tt := range tests {
		got, ok := NormalizeEmail(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidateRegistration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		email      string
		password   string
		wantFields []string
	}{
		{name: "fine", email: "a@example.com", password: "12345678"},
		{name: "eight multi-byte characters", email: "a@example.com", password: "ééééèèèè"},
		{name: "64 characters", email: "a@example.com", password: strings.Repeat("p", 64)},
		{name: "1024 bytes", email: "a@example.com", password: strings.Repeat("p", 1024)},
		{name: "1025 bytes", email: "a@example.com", password: strings.Repeat("p", 1025), wantFields: []string{"password"}},
		{name: "seven characters", email: "a@example.com", password: "1234567", wantFields: []string{"password"}},
		// The minimum counts characters of the normalised password: seven NFC characters
		// given in NFD are fourteen code points, and still seven characters.
		{name: "seven characters in NFD", email: "a@example.com", password: strings.Repeat("e\u0301", 7), wantFields: []string{"password"}},
		{name: "eight characters in NFD", email: "a@example.com", password: strings.Repeat("e\u0301", 8)},
		// Counted as sent too: three ligatures are three characters, though nine once normalised.
		{name: "three ligatures", email: "a@example.com", password: "\ufb03\ufb03\ufb03", wantFields: []string{"password"}},
		{name: "eight fullwidth digits", email: "a@example.com", password: "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"},
		// The byte limit is on the password as given: 1026 bytes in NFD are refused although
		// their NFC form has 684, so the limit costs no normalisation.
		{name: "1026 bytes in NFD", email: "a@example.com", password: strings.Repeat("e\u0301", 342), wantFields: []string{"password"}},
		{name: "invalid UTF-8", email: "a@example.com", password: "12345678\xff", wantFields: []string{"password"}},
		{name: "both missing", wantFields: []string{"email", "password"}},
		{name: "bad email", email: "nope", password: "12345678", wantFields: []string{"email"}},
		{name: "IP address", email: "a@10.0.0.5", password: "12345678", wantFields: []string{"email"}},
		{name: "numeric top-level domain", email: "a@example.123", password: "12345678", wantFields: []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := validateRegistration(tt.email, tt.password)
			var verr *ValidationError
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.As(err, &verr) || len(verr.Fields) != len(tt.wantFields) {
				t.Fatalf("got %v, want fields %v", err, tt.wantFields)
			}
			for _, f := range tt.wantFields {
				if verr.Fields[f] == "" {
					t.Fatalf("no message for field %s in %v", f, verr.Fields)
				}
			}
		})
	}
}

func TestValidCodeFormat(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"0427": true, "0000": true, "9999": true,
		"427": false, "04270": false, "04a7": false, "": false, " 427": false, "٠٤٢٧": false, "0x1f": false,
	} {
		if got := ValidCode(code); got != want {
			t.Errorf("ValidCode(%q) = %v, want %v", code, got, want)
		}
	}
}
