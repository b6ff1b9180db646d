package registration

import (
	"strings"
	"time"
)

// CodeKind says what a code proves: the same digits, hash, lifetime and attempt count serve
// each kind, and an account holds at most one live code of each.
type CodeKind string

// The kinds of code.
const (
	// CodeActivation proves the address of a pending account.
	CodeActivation CodeKind = "activation"
	// CodePasswordReset lets whoever reads the address's mail set a new password.
	CodePasswordReset CodeKind = "password_reset"
	// CodeEmailChange proves the address an active account asked to move to.
	CodeEmailChange CodeKind = "email_change"
)

// EmailKind names the five emails regapi sends.
type EmailKind string

// The kinds of email: three carry a code, two are notices without one.
const (
	EmailActivationCode    EmailKind = "activation_code"
	EmailPasswordResetCode EmailKind = "password_reset_code"
	EmailEmailChangeCode   EmailKind = "email_change_code"
	EmailPasswordChanged   EmailKind = "password_changed"
	EmailEmailChanged      EmailKind = "email_changed"
)

// EmailKinds lists every kind of email, in the order above.
var EmailKinds = []EmailKind{
	EmailActivationCode, EmailPasswordResetCode, EmailEmailChangeCode,
	EmailPasswordChanged, EmailEmailChanged,
}

// emailOfCode is the email that carries a code of each kind.
var emailOfCode = map[CodeKind]EmailKind{
	CodeActivation:    EmailActivationCode,
	CodePasswordReset: EmailPasswordResetCode,
	CodeEmailChange:   EmailEmailChangeCode,
}

// CarriesCode reports whether emails of kind k carry a code.
func (k EmailKind) CarriesCode() bool {
	return k == EmailActivationCode || k == EmailPasswordResetCode || k == EmailEmailChangeCode
}

// Email is the content of an email before sealing: the recipient and the facts its text
// needs, nothing else. Open gives emails sealed before kinds existed the kind
// activation_code, which they all were.
type Email struct {
	Kind     EmailKind     `json:"kind,omitempty"`
	To       string        `json:"to"`
	Code     string        `json:"code,omitempty"`
	ValidFor time.Duration `json:"valid_for,omitempty"`
	// NewEmail is, in an email_changed notice, the new address with its local part masked.
	NewEmail string `json:"new_email,omitempty"`
	// Lang is the language of the account the email is about; emails sealed before languages
	// existed have none and are written in English.
	Lang Language `json:"lang,omitempty"`
}

// MaskEmail hides the local part of an address but its first character ("a***@example.org"),
// so that a notice names the new address well enough for its owner and not for a reader of
// the old mailbox.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 {
		return "***"
	}
	return email[:1] + "***" + email[at:]
}
