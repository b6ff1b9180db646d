package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/regapi/regapi/internal/httpapi"
	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/password"
	"github.com/regapi/regapi/internal/registration"
)

// Config is every setting of regapi, read from the environment in one place.
type Config struct {
	DatabaseURL  string
	HTTPAddr     string
	MailProvider string // a key of providers: "log", "mailpit", "smtp" or "webhook"
	MailpitURL   string
	MailFrom     string
	// EmailTemplates writes the emails: the built-in templates, with those of
	// EMAIL_TEMPLATES_DIR in their place, each checked once when the configuration is read.
	EmailTemplates *outbox.Templates
	// SMTPURL and WebhookURL, WebhookSecret are read when their provider is chosen; they may
	// hold passwords and are never printed.
	SMTPURL       string
	WebhookURL    string
	WebhookSecret string
	// EventsWebhookURL and EventsWebhookSecret, both or neither, say where account events are
	// posted; unset, no event is kept (Policy.Events).
	EventsWebhookURL    string
	EventsWebhookSecret string
	// CodeSecret keys activation codes; CodeSecretGenerated is true when it was made up at
	// start because CODE_SECRET was not set.
	CodeSecret          []byte
	CodeSecretGenerated bool
	Policy              registration.Policy

	Argon2Memory      uint32 // KiB
	Argon2Iterations  uint32
	Argon2Parallelism uint8
	HashConcurrency   int
	HashQueueSize     int
	HashQueueTimeout  time.Duration

	RateLimitPerMinute int
	TrustedProxies     []netip.Prefix
	// AuthFailuresPerAccount is how many failed Basic Auth attempts one client IP may make
	// against one account in a burst, refilled over 15 minutes; 0 turns the throttle off.
	AuthFailuresPerAccount int
	// CORSAllowedOrigins are the exact origins whose pages may call the API from a browser,
	// as httpapi.ParseOrigin returns them.
	CORSAllowedOrigins []string

	MailSendTimeout time.Duration
	MailMaxAttempts int
	MailConcurrency int

	LogLevel slog.Level

	lifecycleSettings
}

// envReader reads settings and collects every problem, so that all are reported at once.
type envReader struct {
	getenv   func(string) string
	problems []error
}

// get reads name, without surrounding white space, or def when that leaves nothing. Every
// setting is read through it, by every command: a value with a control character inside (CR,
// LF, tab) is a problem, and never echoed, as it may be a secret.
func (r *envReader) get(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		if hasControl(v) {
			r.fail(name, "contains a control character (CR, LF, tab...)")
		}
		return v
	}
	return def
}

func (r *envReader) fail(name, format string, args ...any) {
	r.problems = append(r.problems, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (r *envReader) duration(name, def string, lo, hi time.Duration) time.Duration {
	v := r.get(name, def)
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.fail(name, "want a Go duration between %s and %s, got %q", lo, hi, v)
	}
	return d
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	v := r.get(name, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "want a whole number between %d and %d, got %q", lo, hi, v)
	}
	return n
}

func (r *envReader) oneOf(name, def string, allowed ...string) string {
	v := r.get(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "want one of %s, got %q", strings.Join(allowed, ", "), v)
	return v
}

// ConfigError lists every problem found in the configuration.
type ConfigError struct{ Problems []error }

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return "configuration: " + strings.Join(lines, "; ")
}

// outboxDefaults holds the dispatcher's defaults, which the MAIL_* settings default to.
var outboxDefaults = outbox.Config{}.WithDefaults()

// loadConfig reads the configuration through getenv and returns every problem found at once,
// as a *ConfigError.
func loadConfig(getenv func(string) string) (Config, error) {
	r := &envReader{getenv: getenv}
	cpus := runtime.NumCPU()
	c := Config{
		DatabaseURL:  r.databaseURL(),
		HTTPAddr:     r.listenAddr(),
		MailProvider: r.oneOf("MAIL_PROVIDER", "log", providerNames()...),
		MailpitURL:   r.baseURL("MAILPIT_URL", "http://localhost:8025"),
		MailFrom:     r.sender("MAIL_FROM", "no-reply@regapi.local"),
		Policy:       r.policy(),
		// #nosec G115 -- r.integer keeps each value within the bounds given, which fit the type.
		Argon2Memory: uint32(r.integer("ARGON2_MEMORY_KIB", int(password.DefaultParams.MemoryKiB),
			password.MinMemoryKiB, password.MaxMemoryKiB)),
		// #nosec G115 -- within 1..password.MaxIterations
		Argon2Iterations: uint32(r.integer("ARGON2_ITERATIONS", int(password.DefaultParams.Iterations), 1, password.MaxIterations)),
		// #nosec G115 -- within 1..255
		Argon2Parallelism:  uint8(r.integer("ARGON2_PARALLELISM", int(password.DefaultParams.Parallelism), 1, 255)),
		HashConcurrency:    r.integer("HASH_CONCURRENCY", cpus, 1, 1024),
		HashQueueSize:      r.integer("HASH_QUEUE_SIZE", 256, 0, 1<<20),
		HashQueueTimeout:   r.duration("HASH_QUEUE_TIMEOUT", "5s", 0, time.Minute),
		RateLimitPerMinute: r.integer("RATE_LIMIT_PER_MINUTE", 60, 0, 1<<30),
		TrustedProxies:     r.prefixes("TRUSTED_PROXIES"),
		MailSendTimeout:    r.duration("MAIL_SEND_TIMEOUT", outboxDefaults.SendTimeout.String(), 100*time.Millisecond, 5*time.Second),
		MailMaxAttempts:    r.integer("MAIL_MAX_ATTEMPTS", outboxDefaults.MaxAttempts, 1, 1000),
		MailConcurrency:    r.integer("MAIL_CONCURRENCY", outboxDefaults.Concurrency, 1, 1024),
		LogLevel:           r.logLevel("LOG_LEVEL", "info"),
	}
	c.AuthFailuresPerAccount = r.integer("AUTH_FAILURES_PER_ACCOUNT", 10, 0, 1<<20)
	c.EmailTemplates = r.emailTemplates()
	c.CORSAllowedOrigins = r.origins("CORS_ALLOWED_ORIGINS")
	c.EventsWebhookURL, c.EventsWebhookSecret = r.eventsWebhook()
	c.Policy.Events = c.EventsWebhookURL != ""
	c.CodeSecret, c.CodeSecretGenerated = r.codeSecret()
	c.lifecycleSettings = r.lifecycle()
	r.providerSettings(&c)
	if len(r.problems) > 0 {
		return c, &ConfigError{Problems: r.problems}
	}
	return c, nil
}

// emailSettings are the settings that shape the emails' text, which `regapi email preview`
// needs, and nothing else (no database).
type emailSettings struct {
	CodeTTL   time.Duration
	Templates *outbox.Templates
}

// loadEmailSettings reads the settings of the emails' text as loadConfig does, returning
// their problems as a *ConfigError.
func loadEmailSettings(getenv func(string) string) (emailSettings, error) {
	r := &envReader{getenv: getenv}
	s := emailSettings{CodeTTL: r.codeTTL(), Templates: r.emailTemplates()}
	if len(r.problems) > 0 {
		return s, &ConfigError{Problems: r.problems}
	}
	return s, nil
}

// policy reads the codes' rules; whether events are kept follows from EVENTS_WEBHOOK_URL.
func (r *envReader) policy() registration.Policy {
	return registration.Policy{
		CodeTTL:        r.codeTTL(),
		MaxAttempts:    r.integer("ACTIVATION_MAX_ATTEMPTS", 5, 1, 100),
		ResendCooldown: r.duration("RESEND_COOLDOWN", "30s", 0, 24*time.Hour),
		MaxCodesPerDay: r.integer("MAX_CODES_PER_DAY", 10, 1, 1000),
	}
}

func (r *envReader) codeTTL() time.Duration {
	return r.duration("ACTIVATION_CODE_TTL", "60s", time.Second, 24*time.Hour)
}

// emailTemplates reads EMAIL_TEMPLATES_DIR and loads its templates, each parsed and rendered
// once, so that a broken one stops the process at start with its file named.
func (r *envReader) emailTemplates() *outbox.Templates {
	dir := r.get("EMAIL_TEMPLATES_DIR", "")
	if dir == "" {
		return outbox.Builtin()
	}
	t, err := outbox.NewTemplates(dir)
	if err != nil {
		r.fail("EMAIL_TEMPLATES_DIR", "%v", err)
	}
	return t
}

func (r *envReader) databaseURL() string {
	v := r.get("DATABASE_URL", "")
	if v == "" {
		r.fail("DATABASE_URL", "is required (e.g. postgres://user:pass@host:5432/regapi)")
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		r.fail("DATABASE_URL", "want a postgres:// or postgresql:// URL")
	}
	r.checkURL("DATABASE_URL", v, false) // a URL may list several hosts
	return v
}

// providerSettings reads the settings of the chosen provider, each required, and checks them
// by building the provider (which has no side effects) rather than with a second parser.
func (r *envReader) providerSettings(c *Config) {
	before := len(r.problems)
	switch c.MailProvider {
	case "smtp":
		c.SMTPURL = r.required("SMTP_URL", "smtp://user:password@host:587")
		r.checkURL("SMTP_URL", c.SMTPURL, true)
	case "webhook":
		c.WebhookURL = r.required("WEBHOOK_URL", "https://hooks.example.com/regapi")
		r.checkURL("WEBHOOK_URL", c.WebhookURL, true)
		c.WebhookSecret = r.required("WEBHOOK_SECRET", "whsec_ and the base64 of 32 random bytes")
	}
	if _, known := providers[c.MailProvider]; !known || len(r.problems) > before {
		return
	}
	if _, err := newProvider(*c, slog.New(slog.DiscardHandler), io.Discard); err != nil {
		r.problems = append(r.problems, err)
	}
}

// eventsWebhook reads EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET, both or neither, and
// checks them by building the poster.
func (r *envReader) eventsWebhook() (url, secret string) {
	url, secret = r.get("EVENTS_WEBHOOK_URL", ""), r.get("EVENTS_WEBHOOK_SECRET", "")
	r.checkURL("EVENTS_WEBHOOK_URL", url, true)
	switch {
	case url == "" && secret == "":
		return "", ""
	case url == "":
		r.fail("EVENTS_WEBHOOK_URL", "is required when EVENTS_WEBHOOK_SECRET is set (both or neither)")
	case secret == "":
		r.fail("EVENTS_WEBHOOK_SECRET", "is required when EVENTS_WEBHOOK_URL is set (both or neither)")
	default:
		if err := mail.CheckWebhookSecret(secret); err != nil {
			r.fail("EVENTS_WEBHOOK_SECRET", "%v", err)
		} else if _, err := mail.NewEventWebhook(url, secret, nil, nil); err != nil {
			r.fail("EVENTS_WEBHOOK_URL", "%v", err)
		}
	}
	return url, secret
}

// required reads name and reports it missing when it is empty.
func (r *envReader) required(name, example string) string {
	v := r.get(name, "")
	if v == "" {
		r.fail(name, "is required for this MAIL_PROVIDER (e.g. %s)", example)
	}
	return v
}

func (r *envReader) httpURL(name, def string) string {
	v := strings.TrimRight(r.get(name, def), "/")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never echo the value: it may hold a password.
		r.fail(name, "want an http:// or https:// URL")
		return v
	}
	r.checkURL(name, v, true)
	return v
}

func (r *envReader) codeSecret() ([]byte, bool) {
	v := r.get("CODE_SECRET", "")
	if v == "" {
		secret := make([]byte, registration.SecretSize)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails
		return secret, true
	}
	secret, err := hex.DecodeString(v)
	if err != nil || len(secret) != registration.SecretSize {
		r.fail("CODE_SECRET", "want %d hex characters (e.g. from `openssl rand -hex 32`)", 2*registration.SecretSize)
	}
	return secret, false
}

func (r *envReader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, field := range strings.FieldsFunc(r.get(name, ""), func(c rune) bool { return c == ',' || c == ' ' }) {
		p, err := netip.ParsePrefix(field)
		if err != nil {
			addr, aerr := netip.ParseAddr(field)
			if aerr != nil {
				r.fail(name, "want comma-separated CIDRs, got %q", field)
				continue
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// origins reads a comma-separated list of exact web origins.
func (r *envReader) origins(name string) []string {
	var out []string
	for _, field := range strings.FieldsFunc(r.get(name, ""), func(c rune) bool { return c == ',' || c == ' ' }) {
		origin, err := httpapi.ParseOrigin(field)
		if err != nil {
			r.fail(name, "%v", err)
			continue
		}
		out = append(out, origin)
	}
	return out
}

// logLevel reads one of the four level names, in any case; slog's own parser would also take
// offsets such as "info+100", a level above every record: a silent service.
func (r *envReader) logLevel(name, def string) slog.Level {
	v := r.get(name, def)
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	level, ok := levels[strings.ToLower(v)]
	if !ok {
		r.fail(name, "want debug, info, warn or error, got %q", v)
		return slog.LevelInfo
	}
	return level
}
