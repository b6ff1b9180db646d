package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
)

const lease = 30 * time.Second

// claim claims at the clock's time and fails t unless exactly want messages come back.
func (e *env) claim(t *testing.T, want int) []outbox.Message {
	t.Helper()
	msgs, err := e.store.Claim(context.Background(), e.keys.ID(), e.clock.Now(), lease, 10)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if len(msgs) != want {
		t.Fatalf("Claim at %v returned %d messages, want %d", e.clock.Now().Sub(t0), len(msgs), want)
	}
	return msgs
}

func TestClaimersNeverShareAMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	const messages, claimers = 40, 4
	for i := range messages {
		e.register(t, fmt.Sprintf("claim%d@example.com", i))
	}
	var mu sync.Mutex
	var claimed []int64
	counts := parallel(claimers, func(int) error {
		for {
			msgs, err := e.store.Claim(context.Background(), e.keys.ID(), e.clock.Now(), lease, 3)
			if err != nil || len(msgs) == 0 {
				return err
			}
			mu.Lock()
			for _, m := range msgs {
				claimed = append(claimed, m.ID)
			}
			mu.Unlock()
		}
	})
	if counts[nil] != claimers {
		t.Fatalf("claimers: %v", counts)
	}
	slices.Sort(claimed)
	if len(slices.Compact(slices.Clone(claimed))) != len(claimed) {
		t.Fatalf("a message was claimed twice: %v", claimed)
	}
	if len(claimed) != messages {
		t.Fatalf("claimed %d messages, want %d", len(claimed), messages)
	}
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	e.register(t, "lease@example.com")
	first := e.claim(t, 1)[0]
	if first.Attempt != 1 || first.IdempotencyKey == "" || len(first.Payload) == 0 || !first.CreatedAt.Equal(t0) {
		t.Fatalf("first claim: %+v", first)
	}
	e.clock.Advance(lease - time.Microsecond)
	e.claim(t, 0) // still leased
	e.clock.Advance(time.Microsecond)
	again := e.claim(t, 1)[0] // the first sender died
	if again.ID != first.ID || again.IdempotencyKey != first.IdempotencyKey || again.Attempt != 2 {
		t.Fatalf("re-claim: %+v, want message %d with key %s at attempt 2", again, first.ID, first.IdempotencyKey)
	}
}

// outboxRow returns the outbox state of message id.
func (e *env) outboxRow(t *testing.T, id int64) (status string, next time.Time, lastError *string) {
	t.Helper()
	err := e.pool.QueryRow(context.Background(),
		`SELECT status, next_attempt_at, last_error FROM outbox WHERE id = $1`, id).Scan(&status, &next, &lastError)
	if err != nil {
		t.Fatal(err)
	}
	return status, next, lastError
}

func TestStaleSenderIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		mark func(e *env, id int64, attempt int) error
	}{
		{"retry", func(e *env, id int64, attempt int) error {
			return e.store.MarkRetry(ctx, id, attempt, t0.Add(time.Hour), "stale")
		}},
		{"dead", func(e *env, id int64, attempt int) error {
			return e.store.MarkDead(ctx, id, attempt, e.clock.Now(), "stale")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, defaultPolicy)
			e.register(t, "fence@example.com")
			stale := e.claim(t, 1)[0]
			e.clock.Advance(lease)
			current := e.claim(t, 1)[0]
			if err := tt.mark(e, stale.ID, stale.Attempt); err != nil {
				t.Fatal(err)
			}
			status, next, lastErr := e.outboxRow(t, stale.ID)
			if status != "pending" || !next.Equal(e.clock.Now().Add(lease)) || lastErr != nil {
				t.Fatalf("after a stale mark: %s, due %v, error %v; want the current lease untouched", status, next, lastErr)
			}
			if err := tt.mark(e, current.ID, current.Attempt); err != nil {
				t.Fatal(err)
			}
			if status, _, lastErr := e.outboxRow(t, current.ID); status == "pending" && lastErr == nil {
				t.Fatal("the current sender's mark was ignored")
			}
		})
	}
}

func TestMarkRetryReschedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	e.register(t, "retry@example.com")
	m := e.claim(t, 1)[0]
	retryAt := t0.Add(5 * time.Second)
	if err := e.store.MarkRetry(ctx, m.ID, m.Attempt, retryAt, "provider said 503\x00\xff"); err != nil {
		t.Fatal(err)
	}
	if status, next, lastErr := e.outboxRow(t, m.ID); status != "pending" || !next.Equal(retryAt) || lastErr == nil {
		t.Fatalf("after MarkRetry: %s, due %v, error %v", status, next, lastErr)
	}
	e.clock.Advance(5 * time.Second)
	if again := e.claim(t, 1)[0]; again.Attempt != 2 {
		t.Fatalf("retry claimed at attempt %d, want 2", again.Attempt)
	}
}

func TestDeadMessageMakesCodeUndeliverable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "dead@example.com")
	m := e.claim(t, 1)[0]
	if err := e.store.MarkDead(ctx, m.ID, m.Attempt, e.clock.Now(), "mailbox does not exist"); err != nil {
		t.Fatal(err)
	}
	acct, err := e.store.Account(ctx, u.Email)
	if err != nil || acct.Code == nil || !acct.Code.Undeliverable {
		t.Fatalf("code %+v (%v), want undeliverable", acct.Code, err)
	}
	// A late acceptance from a stale sender does not revive a dead message.
	if err := e.store.MarkSent(ctx, m.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := e.outboxRow(t, m.ID); status != "dead" {
		t.Errorf("status %s, want dead", status)
	}
	st, err := e.store.OutboxStats(ctx)
	if err != nil || st.Dead != 1 || st.Pending != 0 || !st.OldestPending.IsZero() {
		t.Errorf("OutboxStats = %+v (%v), want one dead message", st, err)
	}
}

func TestMarkSentTouchesOnlyItsOwnCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "resent@example.com")
	old := e.claim(t, 1)[0]
	e.clock.Advance(defaultPolicy.ResendCooldown)
	if _, err := e.svc.Resend(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkSent(ctx, old.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	acct, _ := e.store.Account(ctx, u.Email)
	if acct.Code == nil || acct.Code.SentAt != nil {
		t.Fatalf("new code %+v: the old email's delivery started its lifetime", acct.Code)
	}
	st, err := e.store.OutboxStats(ctx)
	if err != nil || st.Pending != 1 || !st.OldestPending.Equal(e.clock.Now()) {
		t.Errorf("OutboxStats = %+v (%v), want the resent message pending", st, err)
	}
	e.deliverAll(t)
	sentAt := e.clock.Now()
	e.clock.Advance(time.Second)
	e.deliverAll(t) // nothing left: a second delivery must not move the start
	acct, _ = e.store.Account(ctx, u.Email)
	if acct.Code == nil || acct.Code.SentAt == nil || !acct.Code.SentAt.Equal(sentAt) {
		t.Fatalf("new code %+v, want sent at %v", acct.Code, sentAt)
	}
}

func TestWakeups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	wake := e.store.Wakeups(ctx, slog.New(slog.NewTextHandler(t.Output(), nil)))
	receive := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	receive("on connecting")
	e.register(t, "wake@example.com")
	receive("after a commit")

	// Kill the listener's connection: it must come back, and wake once on its return since
	// notifications may have been missed meanwhile.
	var killed int
	err := e.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN outbox'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	receive("on reconnecting")
	e.register(t, "wake-again@example.com")
	receive("after a commit on the new connection")
	cancel()
	for range wake { // drains a wake-up sent before the cancellation, then ends
	}
}

func TestClaimTakesOnlyMessagesItCanOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	e.register(t, "sealed@example.com")
	other := []byte("otherkey")
	msgs, err := e.store.Claim(context.Background(), other, e.clock.Now(), lease, 10)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Claim under another secret's key id = %d messages, %v; want none", len(msgs), err)
	}
	m := e.claim(t, 1)[0]
	if want := e.clock.Now().Add(lease); !m.LeaseUntil.Equal(want) {
		t.Fatalf("LeaseUntil = %v, want %v", m.LeaseUntil, want)
	}
}
