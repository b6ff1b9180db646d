package postgres_test

import (
	"context"
	"testing"
	"time"
)

// A deletion and a delivery being recorded at once both finish. Recording a delivery locks
// the email's outbox row, then the code it carries; deleting the account removes its codes
// and its emails. Were the deletion to take the code first, each would wait on the other
// and PostgreSQL would abort one (a 500 for the deletion, seen under load when a delete
// raced the mark of its last email). The deletion takes the account's outbox rows first.
func TestDeleteAndAMarkOfItsEmailBothFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "gone@example.com")
	var msg int64
	if err := e.pool.QueryRow(ctx, `SELECT message_id FROM codes WHERE user_id = $1`, u.ID).Scan(&msg); err != nil {
		t.Fatal(err)
	}
	// The first half of a mark (markSentBatch): the email's row is locked.
	mark, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mark.Rollback(ctx) }()
	if _, err := mark.Exec(ctx, `UPDATE outbox SET status = 'sent', sent_at = now() WHERE id = $1`, msg); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- e.svc.Delete(ctx, u) }()
	// The deletion now waits on a lock the mark holds.
	deadline := time.Now().Add(30 * time.Second)
	for e.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deletion never waited on the marked email")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The second half of the mark: the code's lifetime starts.
	if _, err := mark.Exec(ctx, `UPDATE codes SET sent_at = now() WHERE message_id = $1`, msg); err != nil {
		t.Fatalf("the mark failed: %v", err)
	}
	if err := mark.Commit(ctx); err != nil {
		t.Fatalf("the mark failed to commit: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE id = $1`, u.ID); n != 0 {
		t.Fatalf("%d accounts left", n)
	}
}
