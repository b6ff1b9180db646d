package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/registration"
)

// ErrInvalidEmail is returned by Render for content that must not be sent: no recipient, an
// unknown kind, a code that is not 4 digits or no validity period in an email that carries a
// code, a code in a notice.
var ErrInvalidEmail = errors.New("email content is invalid")

// templateData is what the templates of e's kind see, and all they see: a template that
// names another field fails at start (missingkey=error). An email that carries a code has
// Code and ValidFor, the validity in words of e's language; an address change notice has
// NewEmail, the masked new address; a password change notice has nothing. No other number
// can slip into the text next to a code.
func templateData(e registration.Email) map[string]string {
	switch {
	case e.Kind.CarriesCode():
		return map[string]string{"Code": e.Code, "ValidFor": describeValidity(e.ValidFor, e.Lang.OrDefault())}
	case e.Kind == registration.EmailEmailChanged:
		return map[string]string{"NewEmail": e.NewEmail}
	}
	return map[string]string{}
}

// execute renders the three parts of an email with data.
func (et emailTemplates) execute(data map[string]string) (subject, text, html string, err error) {
	var s, t, h bytes.Buffer
	if err := et.subject.Execute(&s, data); err != nil {
		return "", "", "", &partError{partSubject, err}
	}
	if err := et.text.Execute(&t, data); err != nil {
		return "", "", "", &partError{partText, err}
	}
	if err := et.html.Execute(&h, data); err != nil {
		return "", "", "", &partError{partHTML, err}
	}
	return strings.TrimSpace(s.String()), t.String(), h.String(), nil
}

// Builtin returns regapi's own templates, for English and French.
func Builtin() *Templates { return builtin }

// Render builds email e sent from from, in e's language (English when it has none): its
// subject, a plain-text part (an email that carries a code holds it as its only standalone
// 4-digit number), an HTML part escaped by html/template, and the kind, code and validity
// as fields for providers that post structured events. It returns an error wrapping
// ErrInvalidEmail when e cannot make a correct email.
func (t *Templates) Render(from string, e registration.Email) (mail.Message, error) {
	if err := checkEmail(e); err != nil {
		return mail.Message{}, err
	}
	subject, text, html, err := t.set[templateKey{e.Kind, e.Lang.OrDefault()}].execute(templateData(e))
	if err != nil {
		return mail.Message{}, fmt.Errorf("render %s: %w", e.Kind, err)
	}
	m := mail.Message{
		From: from, To: e.To, Subject: subject, Text: text, HTML: html, Kind: string(e.Kind),
	}
	if e.Kind.CarriesCode() {
		m.Code, m.ValidFor = e.Code, e.ValidFor
	}
	return m, nil
}

// checkEmail refuses content that would make a misleading email. Its errors never quote the
// code.
func checkEmail(e registration.Email) error {
	known := slices.Contains(registration.EmailKinds, e.Kind)
	switch {
	case e.To == "":
		return fmt.Errorf("%w: no recipient", ErrInvalidEmail)
	case !known:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEmail, e.Kind)
	case !e.Kind.CarriesCode() && e.Code != "":
		return fmt.Errorf("%w: a %s notice carries no code", ErrInvalidEmail, e.Kind)
	case !e.Kind.CarriesCode():
		return nil
	case !registration.ValidCode(e.Code):
		return fmt.Errorf("%w: code is not %d ASCII digits", ErrInvalidEmail, registration.CodeLength)
	case e.ValidFor < time.Second:
		return fmt.Errorf("%w: validity %s is under a second", ErrInvalidEmail, e.ValidFor)
	}
	return nil
}
