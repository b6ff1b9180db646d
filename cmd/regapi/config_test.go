package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8080" || cfg.MailProvider != "log" || cfg.MailpitURL != "http://localhost:8025" ||
		cfg.MailFrom != "no-reply@regapi.local" || !cfg.CodeSecretGenerated || len(cfg.CodeSecret) != 32 ||
		cfg.Policy.CodeTTL != time.Minute || cfg.Policy.MaxAttempts != 5 || cfg.Policy.ResendCooldown != 30*time.Second ||
		cfg.Policy.MaxCodesPerDay != 10 || cfg.Argon2Memory != 19456 || cfg.Argon2Iterations != 2 ||
		cfg.Argon2Parallelism != 1 || cfg.HashConcurrency < 1 || cfg.RateLimitPerMinute != 60 || cfg.TrustedProxies != nil {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(envOf(map[string]string{
		"MAIL_PROVIDER":       "carrier-pigeon",
		"CODE_SECRET":         "abc",
		"ACTIVATION_CODE_TTL": "soon",
		"TRUSTED_PROXIES":     "10.0.0.0/8, nonsense",
		"HTTP_ADDR":           "8080",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"DATABASE_URL", "MAIL_PROVIDER", "CODE_SECRET", "ACTIVATION_CODE_TTL", "TRUSTED_PROXIES", "HTTP_ADDR"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	var out strings.Builder
	printError(&out, err)
	if got := strings.Count(out.String(), "\n"); got != 1 {
		t.Errorf("%d lines, want one:\n%s", got, out.String())
	}
}

func TestWorkerNeedsASharedSecret(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"worker"}, envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "CODE_SECRET") {
		t.Fatalf("worker without CODE_SECRET: %v", err)
	}
}

func TestRunRejectsBadCommandLines(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi"})
	for _, args := range [][]string{nil, {"frobnicate"}, {"serve", "extra"}, {"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "x"}} {
		if err := run(context.Background(), args, env, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
