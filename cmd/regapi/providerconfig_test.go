package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail/smtptest"
)

// TestProviderSettingsAreCheckedAtStart: an unknown provider, or a missing or malformed
// setting of the chosen one, stops the process with one line naming the variable and never
// repeating a secret.
func TestProviderSettingsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-0427"
	tests := []struct {
		env   map[string]string
		names []string
	}{
		{map[string]string{"MAIL_PROVIDER": "carrier-pigeon"}, []string{"MAIL_PROVIDER"}},
		{map[string]string{"MAIL_PROVIDER": "smtp"}, []string{"SMTP_URL"}},
		{map[string]string{"MAIL_PROVIDER": "smtp", "SMTP_URL": "http://u:" + secret + "@relay.example.com"}, []string{"SMTP_URL"}},
		{map[string]string{"MAIL_PROVIDER": "smtp", "SMTP_URL": "smtp://u:" + secret + "@relay.example.com?tls=maybe"}, []string{"SMTP_URL"}},
		{map[string]string{"MAIL_PROVIDER": "webhook"}, []string{"WEBHOOK_URL", "WEBHOOK_SECRET"}},
		{map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "https://hooks.example.com/"}, []string{"WEBHOOK_SECRET"}},
		{map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "https://hooks.example.com/", "WEBHOOK_SECRET": "whsec_" + secret}, []string{"WEBHOOK_SECRET"}},
		{map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "ftp://u:" + secret + "@example.com/", "WEBHOOK_SECRET": testWebhookSecret}, []string{"WEBHOOK_URL"}},
		{map[string]string{"MAIL_PROVIDER": "mailpit", "MAILPIT_URL": "ftp://u:" + secret + "@mailpit"}, []string{"MAILPIT_URL"}},
	}
	for _, tt := range tests {
		tt.env["DATABASE_URL"] = "postgres://localhost/regapi"
		tt.env["CODE_SECRET"] = testSecret
		var stderr strings.Builder
		err := run(context.Background(), []string{"serve"}, envOf(tt.env), io.Discard, &stderr)
		if err == nil {
			t.Errorf("%v: serve started", tt.env)
			continue
		}
		var out strings.Builder
		printError(&out, err)
		for _, name := range tt.names {
			if !strings.Contains(out.String(), name) {
				t.Errorf("%v: %q does not name %s", tt.env, out.String(), name)
			}
		}
		if strings.Count(out.String(), "\n") != 1 || strings.Contains(out.String()+stderr.String(), secret) {
			t.Errorf("%v: want one line without the secret, got %q", tt.env, out.String()+stderr.String())
		}
	}
}

func TestProviderSettingsLoad(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"MAIL_PROVIDER": "smtp", "SMTP_URL": "smtps://apikey:pass@smtp.example.com"},
		{"MAIL_PROVIDER": "smtp", "SMTP_URL": "smtp://localhost:1025?starttls=off"},
		{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "https://hooks.example.com/regapi", "WEBHOOK_SECRET": testWebhookSecret},
		// Settings of a provider not chosen are not read.
		{"MAIL_PROVIDER": "log", "SMTP_URL": "nonsense", "WEBHOOK_SECRET": "nonsense"},
	} {
		env["DATABASE_URL"] = "postgres://localhost/regapi"
		cfg, err := loadConfig(envOf(env))
		if err != nil {
			t.Errorf("%v: %v", env, err)
			continue
		}
		if _, err := newProvider(cfg, slog.New(slog.DiscardHandler), io.Discard); err != nil {
			t.Errorf("%v: newProvider: %v", env, err)
		}
	}
}

// TestProviderSecretsStayOutOfLogs runs each provider with secrets in its settings against
// an endpoint that fails every send (connection reset, refused AUTH), and searches
// everything the process printed for them.
func TestProviderSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	closed := refusingAddr(t)
	relay := smtptest.Start(t, &smtptest.Relay{User: "regapi", Password: "the-right-one"})
	secrets := []string{"mailpit-pass-0427", "tok3n-in-path", "smtp-pass-0427", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	for name, settings := range map[string]map[string]string{
		"mailpit": {"MAIL_PROVIDER": "mailpit", "MAILPIT_URL": "http://regapi:mailpit-pass-0427@" + closed + "/tok3n-in-path"},
		"smtp":    {"MAIL_PROVIDER": "smtp", "SMTP_URL": "smtp://regapi:smtp-pass-0427@" + relay.Addr() + "?starttls=off"},
		"webhook": {"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "http://" + closed + "/hooks/tok3n-in-path", "WEBHOOK_SECRET": testWebhookSecret},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv(t)
			for k, v := range settings {
				env[k] = v
			}
			a := startApp(t, env)
			a.register(t, uniqueEmail(name), "password-1234").want(t, 201, "")
			waitUntil(t, 30*time.Second, func() (bool, string) {
				out := a.stdout.String()
				return strings.Contains(out, "email send failed") || strings.Contains(out, "email given up on"), "no failed attempt logged"
			})
			out := a.stdout.String()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("the log holds %q:\n%s", s, out)
				}
			}
		})
	}
}
