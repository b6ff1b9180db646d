package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// runOutbox runs db's BatchedOutbox until the returned stop is called, which waits for Run to end.
func (db *outboxDB) runOutbox(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.ob.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}
}

func TestConcurrentMarkSentAreAllRecorded(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	const n = 40
	for i := range n {
		email := fmt.Sprintf("batch%d@example.com", i)
		db.account(t, email, "pending")
		db.email(t, email, keyCurrent)
	}
	msgs, err := db.ob.Claim(ctx, bothKeys, lease, n)
	if err != nil || len(msgs) != n {
		t.Fatalf("Claim = %d messages (%v), want %d", len(msgs), err, n)
	}
	stop := db.runOutbox(t)
	defer stop()
	// Marks that arrive together are recorded together: each must still land on its own
	// message and code.
	results := parallel(n, func(i int) error { return db.ob.MarkSent(ctx, msgs[i].ID) })
	if results[nil] != n {
		t.Fatalf("MarkSent results %v, want %d successes", results, n)
	}
	for _, m := range msgs {
		if r := db.row(t, m.ID); r.status != "sent" || r.codeSent == nil || !r.codeSent.Equal(*r.sentAt) {
			t.Errorf("message %d: %s at %v, its code's lifetime starts at %v; want both at its acceptance", m.ID, r.status, r.sentAt, r.codeSent)
		}
	}
}

// A dispatcher that stops finishes its sends after the outbox's Run has returned: their
// marks must still be recorded.
func TestMarkSentAfterRunStopped(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	id := db.email(t, "late@example.com", keyCurrent)
	db.claim(t, 1)
	db.runOutbox(t)()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.ob.MarkSent(ctx, id); err != nil {
		t.Fatalf("MarkSent after Run stopped: %v", err)
	}
	if r := db.row(t, id); r.status != "sent" {
		t.Fatalf("message is %s, want sent", r.status)
	}
}
