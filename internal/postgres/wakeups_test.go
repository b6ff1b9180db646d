package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres"
)

func TestWakeups(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := postgres.NewWakeups(db.pool, slog.New(slog.NewTextHandler(t.Output(), nil)))
	n := postgres.NewNotifier(db.pool)
	done := make(chan error, 2)
	go func() { done <- w.Run(ctx) }()
	go func() { done <- n.Run(ctx) }()
	receive := func(what string) {
		t.Helper()
		select {
		case <-w.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	receive("on connecting")
	n.Wake()
	receive("after a commit")

	// Kill the listener's connection: it must come back, and wake once on its return since
	// notifications may have been missed meanwhile.
	var killed int
	err := db.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN outbox'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	receive("on reconnecting")
	n.Wake()
	receive("after a commit on the new connection")
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}
}
