package main

import (
	"io"
	"net/http"

	"github.com/regapi/regapi/internal/mail"
)

// newProvider returns the email provider cfg names.
func newProvider(cfg Config, stdout io.Writer) mail.Provider {
	if cfg.MailProvider == "mailpit" {
		return mail.NewMailpitProvider(cfg.MailpitURL, &http.Client{})
	}
	return mail.NewLogProvider(stdout)
}
