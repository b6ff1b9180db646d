package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestClaimersNeverShareAMessage(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	const messages, claimers = 40, 4
	for i := range messages {
		db.email(t, fmt.Sprintf("claim%d@example.com", i), bothKeys[i%2])
	}
	var mu sync.Mutex
	var claimed []int64
	counts := parallel(claimers, func(int) error {
		for {
			msgs, err := db.ob.Claim(context.Background(), bothKeys, lease, 3)
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
	db := newOutboxDB(t)
	db.email(t, "lease@example.com", keyCurrent)
	first := db.claim(t, 1)[0]
	if first.Attempt != 1 || first.IdempotencyKey == "" || len(first.Payload) == 0 || !bytes.Equal(first.KeyID, keyCurrent) {
		t.Fatalf("first claim: %+v", first)
	}
	db.age(t, lease-time.Second)
	db.claim(t, 0) // still leased
	db.age(t, time.Second)
	again := db.claim(t, 1)[0] // the first sender died
	if again.ID != first.ID || again.IdempotencyKey != first.IdempotencyKey || again.Attempt != 2 {
		t.Fatalf("re-claim: %+v, want message %d with key %s at attempt 2", again, first.ID, first.IdempotencyKey)
	}
}

// The lease and the retry delay run on the database's clock: no caller passes a time, so a
// dispatcher whose host clock is off by any amount leases, and reschedules, exactly as long
// as one whose clock is right.
func TestLeasesAndRetriesRunOnTheDatabaseClock(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	id := db.email(t, "clock@example.com", keyCurrent)
	m := db.claim(t, 1)[0]
	if r := db.row(t, id); r.waiting || r.untilNext <= lease-time.Second || r.untilNext > lease {
		t.Fatalf("after Claim: waiting %v, leased for %s; want a lease of %s from the database's now()", r.waiting, r.untilNext, lease)
	}
	if err := db.ob.MarkRetry(ctx, m.ID, m.Attempt, time.Hour, "provider said 503", false); err != nil {
		t.Fatal(err)
	}
	if r := db.row(t, id); !r.waiting || r.untilNext <= time.Hour-time.Second || r.untilNext > time.Hour {
		t.Fatalf("after MarkRetry: waiting %v, due in %s; want due in 1h by the database's clock", r.waiting, r.untilNext)
	}
	db.claim(t, 0)
	db.age(t, time.Hour)
	m = db.claim(t, 1)[0]
	if err := db.ob.MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	r := db.row(t, id)
	if r.status != "sent" || r.sentAt == nil || r.now.Sub(*r.sentAt) > time.Second || r.now.Before(*r.sentAt) {
		t.Fatalf("after MarkSent: %s at %v, want sent at the database's now() %v", r.status, r.sentAt, r.now)
	}
}

func TestStaleSenderIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		mark func(db *outboxDB, id int64, attempt int) error
	}{
		{"retry", func(db *outboxDB, id int64, attempt int) error {
			return db.ob.MarkRetry(ctx, id, attempt, time.Hour, "stale", false)
		}},
		{"dead", func(db *outboxDB, id int64, attempt int) error {
			return db.ob.MarkDead(ctx, id, attempt, "stale")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newOutboxDB(t)
			db.email(t, "fence@example.com", keyCurrent)
			stale := db.claim(t, 1)[0]
			db.age(t, lease)
			current := db.claim(t, 1)[0]
			if err := tt.mark(db, stale.ID, stale.Attempt); err != nil {
				t.Fatal(err)
			}
			if r := db.row(t, stale.ID); r.status != "pending" || r.waiting || r.untilNext <= lease-time.Second || r.lastError != nil {
				t.Fatalf("after a stale mark: %+v; want the current lease untouched", r)
			}
			if err := tt.mark(db, current.ID, current.Attempt); err != nil {
				t.Fatal(err)
			}
			if r := db.row(t, current.ID); r.status == "pending" && r.lastError == nil {
				t.Fatal("the current sender's mark was ignored")
			}
		})
	}
}

func TestMarkRetryKeepsAStorableReason(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	id := db.email(t, "retry@example.com", keyCurrent)
	m := db.claim(t, 1)[0]
	if err := db.ob.MarkRetry(context.Background(), m.ID, m.Attempt, 0, "provider said 503\x00\xff", false); err != nil {
		t.Fatal(err)
	}
	if r := db.row(t, id); r.status != "pending" || r.lastError == nil || *r.lastError != "provider said 503" {
		t.Fatalf("after MarkRetry: %+v", r)
	}
	if again := db.claim(t, 1)[0]; again.Attempt != 2 {
		t.Fatalf("retry claimed at attempt %d, want 2", again.Attempt)
	}
}

func TestLateAcceptanceDoesNotReviveADeadMessage(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	db.account(t, "dead@example.com", "pending")
	id := db.email(t, "dead@example.com", keyCurrent)
	m := db.claim(t, 1)[0]
	if err := db.ob.MarkDead(ctx, m.ID, m.Attempt, "mailbox does not exist"); err != nil {
		t.Fatal(err)
	}
	if err := db.ob.MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if r := db.row(t, id); r.status != "dead" || r.codeSent != nil {
		t.Errorf("after a late acceptance: %s, code sent at %v; want dead, code never sent", r.status, r.codeSent)
	}
	st, err := db.ob.OutboxStats(ctx)
	if err != nil || st.Dead != 1 || st.Pending != 0 || !st.OldestPending.IsZero() {
		t.Errorf("OutboxStats = %+v (%v), want one dead message", st, err)
	}
}

func TestMarkSentTouchesOnlyItsOwnCode(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	db.account(t, "resent@example.com", "pending")
	old := db.email(t, "resent@example.com", keyCurrent)
	current := db.email(t, "resent@example.com", keyCurrent) // a resend replaced the code
	if err := db.ob.MarkSent(ctx, old); err != nil {
		t.Fatal(err)
	}
	if r := db.row(t, current); r.codeSent != nil {
		t.Fatalf("the old email's delivery started the new code's lifetime at %v", r.codeSent)
	}
	st, err := db.ob.OutboxStats(ctx)
	if err != nil || st.Pending != 1 || st.OldestPending.IsZero() {
		t.Errorf("OutboxStats = %+v (%v), want the resent message pending", st, err)
	}
	if err := db.ob.MarkSent(ctx, current); err != nil {
		t.Fatal(err)
	}
	first := db.row(t, current).codeSent
	if err := db.ob.MarkSent(ctx, current); err != nil { // a second acceptance
		t.Fatal(err)
	}
	if again := db.row(t, current).codeSent; first == nil || again == nil || !again.Equal(*first) {
		t.Fatalf("code sent at %v, then %v: want the first acceptance to stay the start", first, again)
	}
}

func TestClaimTakesWhatAnyOfItsKeysSealed(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	db.email(t, "current@example.com", keyCurrent)
	db.email(t, "previous@example.com", keyPrevious)
	db.email(t, "other@example.com", []byte("someone else's key"))
	db.claim(t, 0, []byte("yet another key"))
	msgs := db.claim(t, 2, keyCurrent, keyPrevious)
	if !bytes.Equal(msgs[0].KeyID, keyCurrent) || !bytes.Equal(msgs[1].KeyID, keyPrevious) {
		t.Errorf("claimed key ids %q, %q; want each message's own", msgs[0].KeyID, msgs[1].KeyID)
	}
}

func TestClaimWaitingTakesRetriesButNoLease(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	leased := db.email(t, "leased@example.com", keyCurrent)
	waiting := db.email(t, "waiting@example.com", keyCurrent)
	db.claim(t, 2)
	m := db.row(t, waiting)
	if err := db.ob.MarkRetry(ctx, waiting, m.attempts, time.Hour, "503", false); err != nil {
		t.Fatal(err)
	}
	due := db.email(t, "due@example.com", keyCurrent)
	if got := db.claim(t, 1); got[0].ID != due {
		t.Fatalf("Claim took message %d, want only the due one (%d)", got[0].ID, due)
	}
	if msgs, err := db.ob.ClaimWaiting(ctx, bothKeys, lease, 10, time.Minute); err != nil || len(msgs) != 0 {
		t.Fatalf("ClaimWaiting = %v (%v), want none: the retry was scheduled under a minute ago", msgs, err)
	}
	msgs, err := db.ob.ClaimWaiting(ctx, bothKeys, lease, 10, 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != waiting {
		t.Fatalf("ClaimWaiting = %v (%v), want only the waiting message %d, never leased %d", msgs, err, waiting, leased)
	}
}

// A retry whose delay the provider asked for (a 429's Retry-After) is taken by no drain of
// any dispatcher before it is due; one after a backoff of regapi's is.
func TestClaimWaitingLeavesAProvidersRetryAfterAlone(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	ctx := context.Background()
	asked := db.email(t, "throttled@example.com", keyCurrent)
	backoff := db.email(t, "failed@example.com", keyCurrent)
	db.claim(t, 2)
	for id, providerAsked := range map[int64]bool{asked: true, backoff: false} {
		if err := db.ob.MarkRetry(ctx, id, db.row(t, id).attempts, time.Hour, "429", providerAsked); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := db.ob.ClaimWaiting(ctx, bothKeys, lease, 10, 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != backoff {
		t.Fatalf("ClaimWaiting = %v (%v), want only %d, never %d before the hour its provider asked for", msgs, err, backoff, asked)
	}
}
