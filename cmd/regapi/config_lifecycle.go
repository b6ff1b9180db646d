package main

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// maxRetention bounds the retention settings: ten years is "keep", spelt 0.
const maxRetention = 10 * 365 * 24 * time.Hour

// lifecycleSettings are the lifecycle settings: retention, retired code secrets, shutdown.
type lifecycleSettings struct {
	// PendingAccountRetention and OutboxRetention are how long never-activated accounts and
	// sent or dead emails are kept; 0 keeps them forever.
	PendingAccountRetention time.Duration
	OutboxRetention         time.Duration
	// CodeSecretsPrevious are retired secrets whose codes and sealed emails still open.
	CodeSecretsPrevious [][]byte
	// ShutdownDrain is how long serve keeps serving, as a lame duck, after SIGTERM.
	ShutdownDrain time.Duration
}

// lifecycle reads the lifecycle settings.
func (r *envReader) lifecycle() lifecycleSettings {
	return lifecycleSettings{
		PendingAccountRetention: r.retention("PENDING_ACCOUNT_RETENTION"),
		OutboxRetention:         r.retention("OUTBOX_RETENTION"),
		CodeSecretsPrevious:     r.previousSecrets("CODE_SECRET_PREVIOUS"),
		ShutdownDrain:           r.duration("SHUTDOWN_DRAIN", "2s", 0, 2*time.Second),
	}
}

// retention reads a retention period: a Go duration of at least a minute, or 0 for forever.
// A short one is safe: retention never removes what a guarantee still needs (a pending
// email, a live code, an address's last 24 hours of quota), whatever the setting.
func (r *envReader) retention(name string) time.Duration {
	v := r.get(name, "168h")
	d, err := time.ParseDuration(v)
	if v == "0" || (err == nil && d == 0) {
		return 0
	}
	if err != nil || d < time.Minute || d > maxRetention {
		r.fail(name, "want 0 (keep forever) or a Go duration of at least 1m, got %q", v)
	}
	return d
}

// previousSecrets reads a comma-separated list of 64-hex-character secrets. The values are
// never echoed: they are keys.
func (r *envReader) previousSecrets(name string) [][]byte {
	var out [][]byte
	for i, field := range strings.Split(r.get(name, ""), ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		secret, err := hex.DecodeString(field)
		if err != nil || len(secret) != registration.SecretSize {
			r.fail(name, "entry %d: want %d hex characters", i+1, 2*registration.SecretSize)
			continue
		}
		out = append(out, secret)
	}
	return out
}
