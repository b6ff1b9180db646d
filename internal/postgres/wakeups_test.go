package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/postgres"
)

func TestWakeups(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := postgres.NewWakeups(db.pool, slog.New(slog.NewTextHandler(t.Output(), nil)))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	receive := func(what string) {
		t.Helper()
		select {
		case <-w.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	receive("on connecting")
	w.Committed()
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
	w.Committed()
	receive("after a commit on the new connection")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

// A burst of commits shares a few notifications, and the last commit is never left without one.
func TestWakeupsMergeABurstOfCommits(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN outbox"); err != nil {
		t.Fatal(err)
	}
	w := postgres.NewWakeups(db.pool, slog.New(slog.DiscardHandler))
	go func() { _ = w.Run(ctx) }()
	for range 1000 {
		w.Committed()
	}
	received := 0
	for {
		waitCtx, stop := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := conn.WaitForNotification(waitCtx)
		stop()
		if err != nil {
			break
		}
		received++
	}
	if received < 1 || received > 3 {
		t.Errorf("1000 commits in a burst sent %d notifications, want 1 to 3", received)
	}
}
