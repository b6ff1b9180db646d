package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// emailCommand runs `regapi email preview KIND [LANG]`: it prints the subject and text of an
// email of KIND in LANG (English by default) as the current settings write it, the templates
// of EMAIL_TEMPLATES_DIR included, with a sample code or address. It needs no database.
func emailCommand(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 || len(args) > 3 || args[0] != "preview" {
		return fmt.Errorf("%w: want email preview KIND [LANG]", errUsage)
	}
	kind, lang := registration.EmailKind(args[1]), registration.English
	if len(args) == 3 {
		lang = registration.Language(args[2])
	}
	if !slices.Contains(registration.EmailKinds, kind) {
		return fmt.Errorf("%w: unknown email kind %q (want one of %v)", errUsage, kind, registration.EmailKinds)
	}
	if !lang.Supported() {
		return fmt.Errorf("%w: unknown language %q (want one of %v)", errUsage, lang, registration.Languages)
	}
	settings, err := loadEmailSettings(getenv)
	if err != nil {
		return err
	}
	m, err := settings.Templates.Render("", outbox.SampleEmail(kind, lang, settings.CodeTTL))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "Subject: %s\n\n%s", m.Subject, m.Text)
	return err
}
