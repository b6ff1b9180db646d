package outbox

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	texttemplate "text/template"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/registration"
)

// ActivationSubject is the subject line of every activation email.
const ActivationSubject = "Your regapi activation code"

// ErrInvalidEmail is returned by RenderActivation for content that must not be sent: no
// recipient, a code that is not 4 digits, or no validity period.
var ErrInvalidEmail = errors.New("activation email content is invalid")

//go:embed templates
var templateFiles embed.FS

var (
	textTemplate = texttemplate.Must(texttemplate.ParseFS(templateFiles, "templates/activation.txt.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.ParseFS(templateFiles, "templates/activation.html.tmpl"))
)

// activationData is what the templates see: nothing but the code and its validity in words,
// so that no other number can slip into the text next to the code.
type activationData struct {
	Code     string
	ValidFor string
}

// RenderActivation builds the activation email e sent from from: a plain-text part carrying
// the code as its only standalone 4-digit number, an HTML part escaped by html/template, and
// the code and its validity as fields for providers that post structured events. It returns
// an error wrapping ErrInvalidEmail when e cannot make a correct email.
func RenderActivation(from string, e registration.ActivationEmail) (mail.Message, error) {
	if err := checkActivation(e); err != nil {
		return mail.Message{}, err
	}
	data := activationData{Code: e.Code, ValidFor: describeValidity(e.ValidFor)}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, data); err != nil {
		return mail.Message{}, fmt.Errorf("render activation text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, data); err != nil {
		return mail.Message{}, fmt.Errorf("render activation html: %w", err)
	}
	return mail.Message{
		From: from, To: e.To, Subject: ActivationSubject, Text: text.String(), HTML: html.String(),
		Code: e.Code, ValidFor: e.ValidFor,
	}, nil
}

// checkActivation refuses content that would make a misleading email. Its errors never
// quote the code.
func checkActivation(e registration.ActivationEmail) error {
	switch {
	case e.To == "":
		return fmt.Errorf("%w: no recipient", ErrInvalidEmail)
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
