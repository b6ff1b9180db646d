package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestConcurrentMarkSentAreAllRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	const n = 40
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("batch%d@example.com", i)
		e.register(t, emails[i])
	}
	msgs, err := e.store.Claim(ctx, e.keys.ID(), e.clock.Now(), lease, n)
	if err != nil || len(msgs) != n {
		t.Fatalf("Claim = %d messages (%v), want %d", len(msgs), err, n)
	}
	sentAt := e.clock.Now().Add(time.Second)
	// Marks that arrive together are recorded together: each must still land on its own
	// message and code, with its own time.
	results := parallel(n, func(i int) error {
		return e.store.MarkSent(ctx, msgs[i].ID, sentAt.Add(time.Duration(i)*time.Millisecond))
	})
	if results[nil] != n {
		t.Fatalf("MarkSent results %v, want %d successes", results, n)
	}
	var sent int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'sent'`).Scan(&sent); err != nil || sent != n {
		t.Fatalf("%d messages sent (%v), want %d", sent, err, n)
	}
	rows, err := e.pool.Query(ctx, `SELECT o.sent_at, c.sent_at FROM outbox o JOIN activation_codes c ON c.message_id = o.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var outboxAt, codeAt time.Time
		if err := rows.Scan(&outboxAt, &codeAt); err != nil {
			t.Fatal(err)
		}
		if !outboxAt.Equal(codeAt) || outboxAt.Before(sentAt) {
			t.Errorf("message sent at %v, its code's lifetime starts at %v; want both the message's own mark", outboxAt, codeAt)
		}
	}
}
