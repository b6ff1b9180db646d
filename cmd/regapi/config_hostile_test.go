package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
)

// setting is one setting for the hostile-value table: a value it accepts, the other settings
// it needs, and a value of the wrong unit or form.
type setting struct {
	name, ok string
	env      map[string]string
	// wrong is a value in the wrong unit or form; required means empty is a problem.
	wrong    string
	required bool
	// extra are values with extra characters, when the generic ones (a word, a semicolon, a
	// hash, empty list entries after the value) can be legitimate, as in a URL's path.
	extra []string
}

func hostileSettings(t *testing.T) []setting {
	secret := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	hex64 := strings.Repeat("ab", 32)
	return []setting{
		{name: "DATABASE_URL", ok: "postgres://localhost/regapi", wrong: "mysql://localhost/regapi", required: true,
			extra: []string{"postgres://localhost/regapi x", "postgres://localhost/regapi#x", "postgres ://localhost/regapi"}},
		{name: "HTTP_ADDR", ok: "127.0.0.1:8080", wrong: ":http"},
		{name: "MAIL_PROVIDER", ok: "mailpit", wrong: "Mailpit"},
		{name: "MAILPIT_URL", ok: "http://mailpit:8025", wrong: "http://mailpit:8025/?tenant=a",
			extra: []string{"http://mailpit:8025 x", "http://mailpit:8025#", "http://mailpit;x:8025", "http://mailpit:8025x"}},
		{name: "MAIL_FROM", ok: "Regapi <no-reply@example.com>", wrong: "regapi no-reply at example.com"},
		{name: "SMTP_URL", ok: "smtp://user:pass@mail.example.com:587", env: map[string]string{"MAIL_PROVIDER": "smtp"},
			wrong: "http://mail.example.com", required: true,
			extra: []string{"smtp://user:pass@mail.example.com:587 x", "smtp://user:pass@mail.example.com:587#", "smtp://user:pass@mail;example.com:587"}},
		{name: "WEBHOOK_URL", ok: "https://hooks.example.com/regapi", env: map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_SECRET": secret},
			wrong: "hooks.example.com", required: true,
			extra: []string{"https://hooks.example.com/regapi x", "https://hooks.example.com/regapi#", "https://hooks.example.com;x/regapi"}},
		{name: "WEBHOOK_SECRET", ok: secret, env: map[string]string{"MAIL_PROVIDER": "webhook", "WEBHOOK_URL": "https://hooks.example.com/regapi"},
			wrong: hex64, required: true},
		{name: "EVENTS_WEBHOOK_URL", ok: "https://hooks.example.com/events", env: map[string]string{"EVENTS_WEBHOOK_SECRET": secret},
			wrong: "hooks.example.com", required: true,
			extra: []string{"https://hooks.example.com/events x", "https://hooks.example.com/events#", "https://hooks.example.com;x/events"}},
		{name: "EVENTS_WEBHOOK_SECRET", ok: secret, env: map[string]string{"EVENTS_WEBHOOK_URL": "https://hooks.example.com/events"},
			wrong: hex64, required: true},
		{name: "CODE_SECRET", ok: hex64, wrong: base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{name: "CODE_SECRET_PREVIOUS", ok: hex64 + "," + strings.Repeat("cd", 32), wrong: "abcd"},
		{name: "PENDING_ACCOUNT_RETENTION", ok: "72h", wrong: "168"},
		{name: "OUTBOX_RETENTION", ok: "24h", wrong: "7d"},
		{name: "EMAIL_TEMPLATES_DIR", ok: t.TempDir(), wrong: "/nonexistent/templates"},
		{name: "CORS_ALLOWED_ORIGINS", ok: "https://app.example.com", wrong: "https://app.example.com/path",
			extra: []string{"https://app.example.com x", "https://app.example.com#", "https://app.example.com:99999"}},
		{name: "ACTIVATION_CODE_TTL", ok: "90s", wrong: "60"},
		{name: "ACTIVATION_MAX_ATTEMPTS", ok: "5", wrong: "5x"},
		{name: "RESEND_COOLDOWN", ok: "30s", wrong: "30"},
		{name: "MAX_CODES_PER_DAY", ok: "10", wrong: "10/day"},
		{name: "ARGON2_MEMORY_KIB", ok: "19456", wrong: "19MiB"},
		{name: "ARGON2_ITERATIONS", ok: "2", wrong: "2.5"},
		{name: "ARGON2_PARALLELISM", ok: "1", wrong: "one"},
		{name: "HASH_CONCURRENCY", ok: "4", wrong: "4 cpus"},
		{name: "HASH_QUEUE_SIZE", ok: "256", wrong: "256k"},
		{name: "HASH_QUEUE_TIMEOUT", ok: "5s", wrong: "5"},
		{name: "RATE_LIMIT_PER_MINUTE", ok: "60", wrong: "1/s"},
		{name: "AUTH_FAILURES_PER_ACCOUNT", ok: "10", wrong: "1e3"},
		{name: "TRUSTED_PROXIES", ok: "10.0.0.0/8, 192.168.1.1", wrong: "10.0.0.0/33"},
		{name: "MAIL_SEND_TIMEOUT", ok: "5s", wrong: "5000"},
		{name: "MAIL_MAX_ATTEMPTS", ok: "20", wrong: "20s"},
		{name: "MAIL_CONCURRENCY", ok: "16", wrong: "0x10"},
		{name: "SHUTDOWN_DRAIN", ok: "1s", wrong: "1"},
		{name: "LOG_LEVEL", ok: "warn", wrong: "info+100"},
	}
}

// names reports whether err, a *ConfigError, names the setting.
func names(err error, name string) bool {
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return false
	}
	for _, p := range ce.Problems {
		if strings.HasPrefix(p.Error(), name+":") {
			return true
		}
	}
	return false
}

// Every setting, given a hostile value, stops the process at start naming it: CR/LF inside,
// a negative or a huge number, the wrong unit or form, extra characters. Empty or blank is
// the default (a problem only for a required setting); surrounding white space is ignored.
func TestHostileSettings(t *testing.T) {
	t.Parallel()
	for _, s := range hostileSettings(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			load := func(v string) error {
				env := map[string]string{"DATABASE_URL": "postgres://localhost/regapi"}
				for k, val := range s.env {
					env[k] = val
				}
				env[s.name] = v
				_, err := loadConfig(envOf(env))
				return err
			}
			for _, v := range []string{s.ok, " " + s.ok + " ", "\t" + s.ok + "\r\n"} {
				if err := load(v); err != nil {
					t.Fatalf("%q refused: %v", v, err)
				}
			}
			for _, v := range []string{"", "   "} {
				if err := load(v); names(err, s.name) != s.required {
					t.Errorf("%q: %v (required %v)", v, err, s.required)
				}
			}
			hostile := []string{
				s.ok + "\r\nX-Injected: 1", "x\r" + s.ok, s.ok[:len(s.ok)/2] + "\x00" + s.ok[len(s.ok)/2:],
				"-1", "99999999999999999999", s.wrong,
			}
			if s.ok[0] >= '0' && s.ok[0] <= '9' {
				hostile = append(hostile, "-"+s.ok, s.ok+"99999999999999999999")
			}
			if s.extra == nil {
				s.extra = []string{s.ok + " x", s.ok + ";", s.ok + "#", s.ok + ",,x"}
			}
			for _, v := range append(hostile, s.extra...) {
				err := load(v)
				if !names(err, s.name) {
					t.Errorf("%q accepted: %v", v, err)
					continue
				}
				var out strings.Builder
				printError(&out, err)
				if strings.Count(out.String(), "\n") != 1 {
					t.Errorf("%q: not one line: %q", v, out.String())
				}
			}
		})
	}
}

// The settings of issue 25, each of which used to start cleanly and then fail at run time,
// stop every command at start with the same one line; healthcheck reads HTTP_ADDR with the
// parser serve uses.
func TestBadSettingsStopEveryCommand(t *testing.T) {
	t.Parallel()
	commands := [][]string{{"serve"}, {"worker"}, {"migrate", "up"}, {"migrate", "status"}, {"cleanup"}, {"outbox", "dead"}}
	for _, tc := range []struct{ name, value string }{
		{"MAIL_FROM", "regapi no-reply at example.com"},
		{"MAIL_FROM", "no-reply@example.com\r\nBcc: victim@example.org"},
		{"MAILPIT_URL", "http://mailpit:8025/?tenant=a"},
		{"HTTP_ADDR", "127.0.0.1:80 80"},
		{"LOG_LEVEL", "info+100"},
	} {
		env := envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi", "CODE_SECRET": testSecret,
			"MAIL_PROVIDER": "mailpit", tc.name: tc.value})
		cmds := commands
		if tc.name == "HTTP_ADDR" {
			cmds = append(cmds, []string{"healthcheck"})
		}
		for _, args := range cmds {
			err := run(context.Background(), args, env, io.Discard, io.Discard)
			if !names(err, tc.name) {
				t.Errorf("%s=%q: regapi %s: %v", tc.name, tc.value, strings.Join(args, " "), err)
			}
		}
	}
	// A stray space around the address: serve and healthcheck both take the address inside.
	env := envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi", "HTTP_ADDR": " 127.0.0.1:8080 "})
	cfg, err := loadConfig(env)
	addr, herr := loadListenAddr(env)
	if err != nil || herr != nil || cfg.HTTPAddr != "127.0.0.1:8080" || addr != cfg.HTTPAddr {
		t.Fatalf("serve reads %q (%v), healthcheck %q (%v)", cfg.HTTPAddr, err, addr, herr)
	}
}
