package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/regapi/regapi/internal/mail"
)

// providers builds each MAIL_PROVIDER from the configuration: adding a provider is one line
// here (and its settings in config.go). An error names the setting at fault and never
// repeats its value, which may hold a password.
var providers = map[string]func(cfg Config, logger *slog.Logger, stdout io.Writer) (mail.Provider, error){
	"log": func(_ Config, _ *slog.Logger, stdout io.Writer) (mail.Provider, error) {
		return mail.NewLogProvider(stdout), nil
	},
	"mailpit": func(cfg Config, logger *slog.Logger, _ io.Writer) (mail.Provider, error) {
		return named("MAILPIT_URL")(mail.NewMailpitProvider(cfg.MailpitURL, nil, logger))
	},
	"smtp": func(cfg Config, _ *slog.Logger, _ io.Writer) (mail.Provider, error) {
		return named("SMTP_URL")(mail.NewSMTPProvider(cfg.SMTPURL, nil))
	},
	"webhook": func(cfg Config, logger *slog.Logger, _ io.Writer) (mail.Provider, error) {
		if err := mail.CheckWebhookSecret(cfg.WebhookSecret); err != nil {
			return nil, fmt.Errorf("WEBHOOK_SECRET: %w", err)
		}
		return named("WEBHOOK_URL")(mail.NewWebhookProvider(cfg.WebhookURL, cfg.WebhookSecret, nil, logger))
	},
}

// providerNames lists the values MAIL_PROVIDER accepts.
func providerNames() []string { return slices.Sorted(maps.Keys(providers)) }

// newProvider returns the email provider cfg names, which logs to logger; the log provider
// prints emails to stdout.
func newProvider(cfg Config, logger *slog.Logger, stdout io.Writer) (mail.Provider, error) {
	build, ok := providers[cfg.MailProvider]
	if !ok {
		return nil, fmt.Errorf("MAIL_PROVIDER: want one of %v, got %q", providerNames(), cfg.MailProvider)
	}
	return build(cfg, logger, stdout)
}

// named prefixes a constructor's error with the setting it came from.
func named(setting string) func(mail.Provider, error) (mail.Provider, error) {
	return func(p mail.Provider, err error) (mail.Provider, error) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		return p, nil
	}
}
