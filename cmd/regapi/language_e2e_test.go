package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail/mailpittest"
)

// TestFrenchAccountThroughMailpit signs up with a French Accept-Language through a real
// Mailpit and reads every email of the account back through Mailpit's API: the activation
// code, the password notice, the address change code and, at the old address, the notice of
// the move, all in French.
func TestFrenchAccountThroughMailpit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mailpit process")
	}
	a, mp := mailpitApp(t, nil)
	a.header = http.Header{"Accept-Language": {"fr-CA, fr;q=0.9, en;q=0.8"}}
	const pass = "mot de passe 1"
	from := uniqueEmail("camille")
	to := "c" + strings.ToLower(rand.Text()[:10]) + "@example.org"

	a.register(t, from, pass).want(t, http.StatusCreated, "")
	code := mailpittest.WaitForCode(t, mp, from, 1, 10*time.Second)
	activation := mailpitMessages(t, mp, from, 1)[0]
	t.Logf("French activation email as Mailpit received it:\nSubject: %s\n\n%s", activation.Subject, activation.Text)
	if activation.Subject != "Votre code d'activation regapi" ||
		!strings.Contains(activation.Text, "Voici votre code d'activation regapi :") || !strings.Contains(activation.Text, "    "+code) ||
		!strings.Contains(activation.Text, "Il est valable 1 minute à partir de l'envoi de cet e-mail") {
		t.Fatalf("activation email: subject %q, text:\n%s", activation.Subject, activation.Text)
	}
	if !strings.Contains(activation.HTML, `<html lang="fr">`) || strings.Count(activation.HTML, code) != 1 ||
		!strings.Contains(activation.HTML, "valable 1 minute") {
		t.Fatalf("activation email's HTML:\n%s", activation.HTML)
	}
	a.activate(t, from, pass, code).want(t, http.StatusOK, "")

	// Later requests ask for English: the account's language holds.
	a.header = http.Header{"Accept-Language": {"en"}}
	a.do(t, http.MethodPut, "/v1/users/me/password", `{"password":"mot de passe 2"}`, from, pass).want(t, http.StatusNoContent, "")
	if n := mailpitMessages(t, mp, from, 2)[0]; n.Subject != "Votre mot de passe regapi a été modifié" || !strings.HasPrefix(n.Text, "Bonjour,") {
		t.Fatalf("password_changed notice: subject %q, text:\n%s", n.Subject, n.Text)
	}
	a.do(t, http.MethodPost, "/v1/users/me/email", fmt.Sprintf(`{"email":%q}`, to), from, "mot de passe 2").want(t, http.StatusAccepted, "")
	code = mailpittest.WaitForCode(t, mp, to, 1, 10*time.Second)
	if c := mailpitMessages(t, mp, to, 1)[0]; c.Subject != "Confirmez votre nouvelle adresse e-mail regapi" {
		t.Fatalf("email_change_code: subject %q, text:\n%s", c.Subject, c.Text)
	}
	confirm := fmt.Sprintf(`{"code":%q}`, code)
	a.do(t, http.MethodPost, "/v1/users/me/email/confirm", confirm, from, "mot de passe 2").want(t, http.StatusOK, "")
	moved := mailpitMessages(t, mp, from, 3)[0]
	if moved.Subject != "Votre adresse e-mail regapi a été modifiée" || !strings.Contains(moved.Text, "vers c***@example.org.") {
		t.Fatalf("email_changed notice: subject %q, text:\n%s", moved.Subject, moved.Text)
	}
}

// TestOperatorTemplateThroughMailpit: a template in EMAIL_TEMPLATES_DIR replaces its built-in
// twin in the email a user receives; the other parts stay built in.
func TestOperatorTemplateThroughMailpit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mailpit process")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "en", "activation_code.subject.tmpl"), "Welcome to Example: your code\n")
	a, mp := mailpitApp(t, map[string]string{"EMAIL_TEMPLATES_DIR": dir})
	email := uniqueEmail("branded")
	a.register(t, email, "correct horse battery").want(t, http.StatusCreated, "")
	mailpittest.WaitForCode(t, mp, email, 1, 10*time.Second)
	m := mailpitMessages(t, mp, email, 1)[0]
	if m.Subject != "Welcome to Example: your code" || !strings.Contains(m.Text, "Your regapi activation code is:") {
		t.Fatalf("subject %q, text:\n%s", m.Subject, m.Text)
	}
}

// TestBrokenTemplateStopsStart: serve and worker refuse to start on a template that uses a
// field that does not exist, with one line naming the file; nothing is listened on.
func TestBrokenTemplateStopsStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "fr", "password_changed.txt.tmpl")
	writeFile(t, file, "Bonjour {{.Prenom}},\n")
	env := map[string]string{"DATABASE_URL": "postgres://regapi@localhost/regapi", "CODE_SECRET": testSecret,
		"HTTP_ADDR": "127.0.0.1:0", "EMAIL_TEMPLATES_DIR": dir}
	for _, cmd := range []string{"serve", "worker"} {
		var out, line syncBuffer
		err := run(t.Context(), []string{cmd}, func(k string) string { return env[k] }, &out, &line)
		if err == nil || !strings.Contains(line.String(), "EMAIL_TEMPLATES_DIR: "+file+": ") ||
			!strings.Contains(line.String(), `no entry for key "Prenom"`) || strings.Count(line.String(), "\n") != 1 {
			t.Errorf("%s: stderr %q, want one line naming %s", cmd, line.String(), file)
		}
		if out.String() != "" {
			t.Errorf("%s wrote before refusing: %s", cmd, out.String())
		}
	}
}

// TestEmailPreview prints emails as the current templates write them, an operator's included,
// without a database.
func TestEmailPreview(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fr", "password_changed.subject.tmpl"), "Exemple : mot de passe modifié\n")
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"email", "preview", "activation_code"}, nil,
			"Subject: Your regapi activation code\n\nHello,\n\nYour regapi activation code is:\n\n    0427\n\nIt is valid for 1 minute."},
		{[]string{"email", "preview", "activation_code", "fr"}, map[string]string{"ACTIVATION_CODE_TTL": "90s"},
			"Subject: Votre code d'activation regapi\n\nBonjour,\n\nVoici votre code d'activation regapi :\n\n    0427\n\nIl est valable 90 secondes"},
		{[]string{"email", "preview", "password_changed", "fr"}, map[string]string{"EMAIL_TEMPLATES_DIR": dir},
			"Subject: Exemple : mot de passe modifié\n\nBonjour,\n\nLe mot de passe de votre compte regapi vient d'être modifié."},
	}
	for _, tt := range tests {
		var out strings.Builder
		if err := run(t.Context(), tt.args, func(k string) string { return tt.env[k] }, &out, &out); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%v printed:\n%s\nwant it to start with:\n%s", tt.args, out.String(), tt.want)
		}
	}
	for _, args := range [][]string{{"email"}, {"email", "preview"}, {"email", "preview", "welcome"},
		{"email", "preview", "activation_code", "de"}, {"email", "show", "activation_code"}} {
		if err := run(t.Context(), args, func(string) string { return "" }, &strings.Builder{}, &strings.Builder{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// mailpitMessages waits until Mailpit holds n messages for to, and returns them, newest first.
func mailpitMessages(t *testing.T, mp, to string, n int) []mailpittest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := mailpittest.Messages(t.Context(), mp, to)
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit holds fewer than %d messages for %s after 10s (last error: %v)", n, to, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
