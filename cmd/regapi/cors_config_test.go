package main

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestCORSAllowedOrigins(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envOf(map[string]string{
		"DATABASE_URL":         "postgres://localhost/regapi",
		"CORS_ALLOWED_ORIGINS": " https://App.example.com:443, http://localhost:8081 ,http://[::1]:8081",
	}))
	want := []string{"https://app.example.com", "http://localhost:8081", "http://[::1]:8081"}
	if err != nil || !slices.Equal(cfg.CORSAllowedOrigins, want) {
		t.Fatalf("CORSAllowedOrigins = %q, %v; want %q", cfg.CORSAllowedOrigins, err, want)
	}

	// A wildcard or a malformed origin stops serve at start, with one line naming the setting.
	for _, bad := range []string{"*", "https://*.example.com", "https://app.example.com/", "app.example.com", "https://ok.example.com,null"} {
		env := envOf(map[string]string{"DATABASE_URL": "postgres://localhost/regapi", "CORS_ALLOWED_ORIGINS": bad})
		var stdout, stderr strings.Builder
		err := run(context.Background(), []string{"serve"}, env, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q: serve returned %v", bad, err)
			continue
		}
		if got := strings.Count(stderr.String(), "\n"); got != 1 || stdout.Len() != 0 {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q: %d lines on stderr, want one:\n%s\nstdout: %s", bad, got, stderr.String(), stdout.String())
		}
	}
}
