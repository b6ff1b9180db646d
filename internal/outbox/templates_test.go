package outbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// TestRenderEveryKindAndLanguage renders each kind of email in each language: the code once in
// the text and the HTML of an email that carries one, no 4-digit number in a notice, the
// address escaped in the HTML, and the language's own words.
func TestRenderEveryKindAndLanguage(t *testing.T) {
	t.Parallel()
	greeting := map[registration.Language]string{registration.English: "Hello,", registration.French: "Bonjour,"}
	for _, lang := range registration.Languages {
		for _, kind := range registration.EmailKinds {
			t.Run(string(lang)+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				e := registration.Email{Kind: kind, To: "a@example.com", Lang: lang}
				if kind.CarriesCode() {
					e.Code, e.ValidFor = "0427", 90*time.Second
				} else if kind == registration.EmailEmailChanged {
					e.NewEmail = registration.MaskEmail(`<b>x</b>"&'@example.com`)
				}
				m, err := outbox.Builtin().Render("no-reply@regapi.local", e)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				want := []string(nil)
				if kind.CarriesCode() {
					want = []string{"0427"}
				}
				if got := fourDigitNumbers(m.Text); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("4-digit numbers in text = %q, want %q:\n%s", got, want, m.Text)
				}
				if got := strings.Count(m.HTML, "0427"); kind.CarriesCode() && got != 1 {
					t.Errorf("HTML holds the code %d times:\n%s", got, m.HTML)
				}
				if m.Subject == "" || strings.Contains(m.Subject, "\n") || !strings.HasPrefix(m.Text, greeting[lang]) {
					t.Errorf("subject %q, text not in %s:\n%s", m.Subject, lang, m.Text)
				}
				if !strings.Contains(m.HTML, `<html lang="`+string(lang)+`">`) {
					t.Errorf("HTML is not marked as %s:\n%s", lang, m.HTML)
				}
				if kind == registration.EmailEmailChanged {
					if strings.Contains(m.HTML, "<b>") || !strings.Contains(m.HTML, "&lt;***@example.com") {
						t.Errorf("HTML does not escape the address:\n%s", m.HTML)
					}
					if !strings.Contains(m.Text, "<***@example.com") {
						t.Errorf("text does not name the masked address:\n%s", m.Text)
					}
				}
			})
		}
	}
}

func TestRenderFrenchValidity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		validFor time.Duration
		want     string
	}{
		{time.Second, "valable 1 seconde "},
		{45 * time.Second, "valable 45 secondes "},
		{time.Minute, "valable 1 minute "},
		{90 * time.Second, "valable 90 secondes "},
		{1000 * time.Second, "valable 1\u00a0000 secondes "},
		{time.Hour, "valable 1 heure "},
		{36 * time.Hour, "valable 36 heures "},
		{48 * time.Hour, "valable 2 jours "},
	}
	for _, tt := range tests {
		e := registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "2025",
			ValidFor: tt.validFor, Lang: registration.French}
		m, err := outbox.Builtin().Render("no-reply@regapi.local", e)
		if err != nil {
			t.Fatalf("Render(%s): %v", tt.validFor, err)
		}
		if !strings.Contains(m.Text, tt.want) || !strings.Contains(m.HTML, tt.want) {
			t.Errorf("%s: text or HTML does not say %q:\n%s", tt.validFor, tt.want, m.Text)
		}
		if got := fourDigitNumbers(m.Text); len(got) != 1 || got[0] != "2025" {
			t.Errorf("%s: 4-digit numbers in text = %q, want only the code", tt.validFor, got)
		}
	}
}

// TestRenderWithoutLanguage: an email sealed before languages existed is written in English.
func TestRenderWithoutLanguage(t *testing.T) {
	t.Parallel()
	e := registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "0427", ValidFor: time.Minute}
	m, err := outbox.Builtin().Render("no-reply@regapi.local", e)
	if err != nil || m.Subject != "Your regapi activation code" {
		t.Fatalf("Render = %q, %v; want the English email", m.Subject, err)
	}
}

// writeTemplates creates the files (name -> text) in a new folder and returns it.
func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOperatorTemplateReplacesItsTwin(t *testing.T) {
	t.Parallel()
	dir := writeTemplates(t, map[string]string{
		"fr/activation_code.subject.tmpl": "Bienvenue chez Exemple : votre code\n",
		"fr/activation_code.txt.tmpl":     "Votre code Exemple : {{.Code}} (valable {{.ValidFor}}).\n",
		".editor-backup":                  "ignored",
	})
	tmpl, err := outbox.NewTemplates(dir)
	if err != nil {
		t.Fatalf("NewTemplates: %v", err)
	}
	e := registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "0427",
		ValidFor: time.Minute, Lang: registration.French}
	m, err := tmpl.Render("no-reply@example.com", e)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if m.Subject != "Bienvenue chez Exemple : votre code" || m.Text != "Votre code Exemple : 0427 (valable 1 minute).\n" {
		t.Errorf("operator's template not used: subject %q, text %q", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, "Voici votre code d'activation regapi") {
		t.Errorf("the HTML part does not fall back to the built-in one:\n%s", m.HTML)
	}
	e.Lang = registration.English
	if m, _ := tmpl.Render("no-reply@example.com", e); m.Subject != "Your regapi activation code" {
		t.Errorf("English subject = %q, want the built-in one", m.Subject)
	}
}

// TestBrokenOperatorTemplateIsRefused: each broken template is refused with an error naming its
// file.
func TestBrokenOperatorTemplateIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, text, want string
	}{
		{"does not parse", "en/activation_code.txt.tmpl", "Code: {{.Code}\n", "bad character"},
		{"unknown field", "fr/activation_code.txt.tmpl", "{{.Code}} {{.Name}}\n", `no entry for key "Name"`},
		{"a notice has no code", "en/password_changed.txt.tmpl", "Changed. {{.Code}}\n", `no entry for key "Code"`},
		{"drops the code", "fr/password_reset_code.txt.tmpl", "Valable {{.ValidFor}}.\n", "holds the code 0 times"},
		{"code twice", "en/email_change_code.html.tmpl", "<p>{{.Code}}</p><p>{{.Code}}</p>", "holds the code 2 times"},
		{"another number", "en/activation_code.txt.tmpl", "{{.Code}}\n(c) 2024 Example\n", "4-digit number 2024"},
		{"a written-in code", "en/activation_code.txt.tmpl", "0427\n", "4-digit number"},
		{"a number in a notice", "fr/email_changed.subject.tmpl", "Call 5551 2368", "4-digit number 5551"},
		{"empty subject", "en/password_changed.subject.tmpl", "{{/* nothing */}}\n", "empty subject"},
		{"unknown file", "fr/activation.txt.tmpl", "{{.Code}}", "not a template regapi knows"},
		{"unknown language", "de/activation_code.txt.tmpl", "{{.Code}}", "not a template regapi knows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTemplates(t, map[string]string{tt.file: tt.text})
			_, err := outbox.NewTemplates(dir)
			if err == nil {
				t.Fatal("NewTemplates accepted the template")
			}
			msg := err.Error()
			wantFile := filepath.Join(dir, filepath.FromSlash(tt.file))
			if tt.name == "unknown language" {
				wantFile = filepath.Join(dir, "de")
			}
			if !strings.Contains(msg, wantFile+": ") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line naming %s and saying %q", msg, wantFile, tt.want)
			}
		})
	}
	if _, err := outbox.NewTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewTemplates accepted a folder that does not exist")
	}
}
