package outbox

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/registration"
)

// ErrInvalidEmail is returned by Render for content that must not be sent: no recipient, an
// unknown kind, a code that is not 4 digits or no validity period in an email that carries a
// code, a code in a notice.
var ErrInvalidEmail = errors.New("email content is invalid")

//go:embed templates
var templateFiles embed.FS

// emailTemplates is how one kind of email is written.
type emailTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// templates holds every kind's, parsed at start: a template that does not parse stops the
// process then, never at send time.
var templates = func() map[registration.EmailKind]emailTemplates {
	t := map[registration.EmailKind]emailTemplates{}
	for _, kind := range registration.EmailKinds {
		name := "templates/" + string(kind)
		t[kind] = emailTemplates{
			subject: texttemplate.Must(texttemplate.ParseFS(templateFiles, name+".subject.tmpl")),
			text:    texttemplate.Must(texttemplate.ParseFS(templateFiles, name+".txt.tmpl")),
			html:    htmltemplate.Must(htmltemplate.ParseFS(templateFiles, name+".html.tmpl")),
		}
	}
	return t
}()

// emailData is what the templates see: the code and its validity in words, or the masked new
// address of an address change notice, so that no other number can slip into the text next
// to a code.
type emailData struct {
	Code     string
	ValidFor string
	NewEmail string
}

// Render builds email e sent from from: its subject, a plain-text part (an email that carries
// a code holds it as its only standalone 4-digit number), an HTML part escaped by
// html/template, and the kind, code and validity as fields for providers that post
// structured events. It returns an error wrapping ErrInvalidEmail when e cannot make a
// correct email.
func Render(from string, e registration.Email) (mail.Message, error) {
	if err := checkEmail(e); err != nil {
		return mail.Message{}, err
	}
	t := templates[e.Kind]
	data := emailData{Code: e.Code, NewEmail: e.NewEmail}
	if e.Kind.CarriesCode() {
		data.ValidFor = describeValidity(e.ValidFor)
	}
	var subject, text, html bytes.Buffer
	if err := t.subject.Execute(&subject, data); err != nil {
		return mail.Message{}, fmt.Errorf("render %s subject: %w", e.Kind, err)
	}
	if err := t.text.Execute(&text, data); err != nil {
		return mail.Message{}, fmt.Errorf("render %s text: %w", e.Kind, err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return mail.Message{}, fmt.Errorf("render %s html: %w", e.Kind, err)
	}
	m := mail.Message{
		From: from, To: e.To, Subject: strings.TrimSpace(subject.String()), Text: text.String(),
		HTML: html.String(), Kind: string(e.Kind),
	}
	if e.Kind.CarriesCode() {
		m.Code, m.ValidFor = e.Code, e.ValidFor
	}
	return m, nil
}

// checkEmail refuses content that would make a misleading email. Its errors never quote the
// code.
func checkEmail(e registration.Email) error {
	_, known := templates[e.Kind]
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

// validityUnits are tried largest first: a period reads best in the largest unit that
// measures it exactly ("1 minute", but "90 seconds").
var validityUnits = []struct {
	size time.Duration
	name string
}{
	{24 * time.Hour, "day"},
	{time.Hour, "hour"},
	{time.Minute, "minute"},
	{time.Second, "second"},
}

// describeValidity puts d, rounded down to whole seconds, into words. Counts are grouped
// by thousands ("1,000 seconds"), so the text never holds a second 4-digit number that a
// reader could mistake for the code.
func describeValidity(d time.Duration) string {
	d = d.Truncate(time.Second)
	for _, u := range validityUnits {
		if d%u.size != 0 {
			continue
		}
		n := int64(d / u.size)
		if n == 1 {
			return "1 " + u.name
		}
		return groupThousands(n) + " " + u.name + "s"
	}
	return "less than a second"
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
