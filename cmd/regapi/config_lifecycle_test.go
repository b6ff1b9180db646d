package main

import (
	"strings"
	"testing"
	"time"
)

func TestLifecycleSettings(t *testing.T) {
	t.Parallel()
	const db = "postgres://localhost/regapi"
	cfg, err := loadConfig(envOf(map[string]string{"DATABASE_URL": db}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PendingAccountRetention != 168*time.Hour || cfg.OutboxRetention != 168*time.Hour || cfg.CodeSecretsPrevious != nil {
		t.Fatalf("defaults: %+v", cfg.lifecycleSettings)
	}
	cfg, err = loadConfig(envOf(map[string]string{
		"DATABASE_URL":              db,
		"PENDING_ACCOUNT_RETENTION": "0",
		"OUTBOX_RETENTION":          "720h",
		"CODE_SECRET_PREVIOUS":      testSecret + ", " + strings.Repeat("ab", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PendingAccountRetention != 0 || cfg.OutboxRetention != 720*time.Hour || len(cfg.CodeSecretsPrevious) != 2 {
		t.Fatalf("set: %+v", cfg.lifecycleSettings)
	}
	_, err = loadConfig(envOf(map[string]string{
		"DATABASE_URL":              db,
		"PENDING_ACCOUNT_RETENTION": "30s",
		"OUTBOX_RETENTION":          "forever",
		"CODE_SECRET_PREVIOUS":      "deadbeef-secret-value",
	}))
	for _, name := range []string{"PENDING_ACCOUNT_RETENTION", "OUTBOX_RETENTION", "CODE_SECRET_PREVIOUS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "deadbeef-secret-value") {
		t.Errorf("error echoes a secret: %v", err)
	}
}
