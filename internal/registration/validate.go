package registration

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on what a registration may carry.
const (
	MaxEmailLength    = 254
	MinPasswordLength = 8    // in characters, as sent and once normalised
	MaxPasswordBytes  = 1024 // of the password as given; longer ones are refused before any work
	maxLocalPart      = 64
	maxDomainLabel    = 63
)

// NormalizeEmail trims surrounding white space and lower-cases s, and reports whether the
// result is a plain ASCII local@domain address of at most MaxEmailLength characters. The local
// part is a dot-atom (RFC 5322 without quoting or comments) and the domain a dotted host name
// (see checkHostName); internationalised addresses are refused.
func NormalizeEmail(s string) (string, bool) {
	s, problem := checkEmail(s)
	return s, problem == ""
}

// checkEmail returns s normalised as NormalizeEmail does, and why it is no acceptable
// address, or "" when it is one.
func checkEmail(s string) (normalized, problem string) {
	const notPlain = "must be a plain local@domain address of at most 254 characters"
	s = strings.TrimSpace(s)
	// ASCII is checked before lower-casing: Unicode lower-cases a few look-alikes to ASCII
	// letters (the Kelvin sign U+212A to "k", U+0130 to "i"), which would pass them off as
	// the address they imitate.
	ascii := isASCII(s)
	s = strings.ToLower(s)
	if !ascii || len(s) > MaxEmailLength {
		return s, notPlain
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || !validLocalPart(local) || !validDomain(domain) {
		return s, notPlain
	}
	return s, checkHostName(domain)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func validLocalPart(local string) bool {
	if local == "" || len(local) > maxLocalPart {
		return false
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether c may stand in an unquoted local part (RFC 5322 atext).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > maxDomainLabel || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkHostName returns why domain, made of valid labels, is no host name to mail, or "".
// Its top-level label must begin with a letter, as every top-level domain does (RFC 1123
// 2.1): that refuses IPv4 addresses in every spelling a resolver reads as one (dotted
// decimal, 0x hex as in 0x7f.0.0.0x1, a bare number) and all-numeric labels. Address
// literals in brackets, IPv6 included, never get this far: brackets and colons are no label
// characters. Names under localhost are refused as well, since resolvers answer them with
// the loopback address (RFC 6761 6.3).
func checkHostName(domain string) string {
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	switch {
	case tld[0] < 'a' || tld[0] > 'z':
		return "must have a host name after the @, not an IP address or a numeric top-level domain"
	case tld == "localhost":
		return "must have a host name after the @ that is not under localhost"
	}
	return ""
}

// NormalizePassword returns the form of password that is hashed and checked: its NFKC
// normalisation (NIST SP 800-63B), so that one password typed on systems that compose
// characters differently (NFC, NFD, compatibility forms) is the same password. Bytes that are
// not UTF-8 are kept as they are.
func NormalizePassword(password string) string { return norm.NFKC.String(password) }

// checkPassword returns why password is unacceptable, or "" when it is fine.
//
// The byte limit applies to the password as given, before normalisation: it is checked first,
// so an over-long input costs neither a normalisation nor a hash. NFKC can lengthen a string
// (at most about elevenfold in bytes: U+FDFA becomes 18 characters), which costs argon2id
// nothing measurable, as it reads the password once. The minimum length must hold both for the
// normalised password, the one that is hashed, and for the password as sent, which the
// OpenAPI document's minLength counts. Normalisation composes, so its count is usually the
// smaller one and a password gets the same verdict in NFC as in NFD (an NFD "é" is two code
// points, its NFC form one); characters that normalisation lengthens ("ﬃ" becomes "ffi")
// count as sent.
func checkPassword(password string) string {
	switch {
	case len(password) > MaxPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(password):
		return "must be valid UTF-8"
	case min(utf8.RuneCountInString(password), utf8.RuneCountInString(NormalizePassword(password))) < MinPasswordLength:
		return fmt.Sprintf("must be at least %d characters", MinPasswordLength)
	}
	return ""
}

// validateRegistration normalises email and checks both fields, returning a *ValidationError
// that names every bad field at once.
func validateRegistration(email, password string) (string, error) {
	var f fieldProblems
	email = f.email("email", email)
	f.password("password", password)
	return email, f.err()
}

// fieldProblems collects what is wrong with the fields of one request, so that a
// *ValidationError names every bad field at once.
type fieldProblems map[string]string

func (f *fieldProblems) add(field, problem string) {
	if *f == nil {
		*f = fieldProblems{}
	}
	(*f)[field] = problem
}

// email checks the address in field and returns it normalised.
func (f *fieldProblems) email(field, email string) string {
	normalized, problem := checkEmail(email)
	switch {
	case strings.TrimSpace(email) == "":
		f.add(field, "is required")
	case problem != "":
		f.add(field, problem)
	}
	return normalized
}

// password checks the new password in field against the registration rules.
func (f *fieldProblems) password(field, password string) {
	if password == "" {
		f.add(field, "is required")
	} else if msg := checkPassword(password); msg != "" {
		f.add(field, msg)
	}
}

// code checks that field holds a code: exactly CodeLength ASCII digits.
func (f *fieldProblems) code(field, code string) {
	if !ValidCode(code) {
		f.add(field, fmt.Sprintf("must be exactly %d ASCII digits", CodeLength))
	}
}

// err returns the *ValidationError listing the problems, or nil when there are none.
func (f fieldProblems) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// CodeLength is the number of digits of an activation code.
const CodeLength = 4

// ValidCode reports whether code has the form of an activation code: exactly CodeLength
// ASCII digits. Activation checks it, and the email renderer refuses to send anything else.
func ValidCode(code string) bool {
	if len(code) != CodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
