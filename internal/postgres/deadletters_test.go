package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
)

// dead commits an email to email and gives up on it after attempts attempts.
func (db *outboxDB) dead(t *testing.T, email string, attempts int) int64 {
	t.Helper()
	id := db.email(t, email, keyCurrent)
	ctx := context.Background()
	for i := 1; i <= attempts; i++ {
		msgs, err := db.ob.Claim(ctx, bothKeys, lease, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID != id {
				continue
			}
			mark := db.ob.MarkRetry(ctx, m.ID, m.Attempt, 0, "503 from the provider", false)
			if i == attempts {
				mark = db.ob.MarkDead(ctx, m.ID, m.Attempt, "gave up: 503 from the provider")
			}
			if mark != nil {
				t.Fatal(mark)
			}
		}
	}
	if r := db.row(t, id); r.status != "dead" || r.attempts != attempts {
		t.Fatalf("message %d is %s after %d attempts, want dead after %d", id, r.status, r.attempts, attempts)
	}
	return id
}

// twoDead gives up on an email to a@ after attemptsA attempts, then on one to b@ after
// attemptsB, then commits a new email to b@, whose code replaces the dead one's.
func twoDead(t *testing.T, attemptsA, attemptsB int) (db *outboxDB, a, b int64) {
	t.Helper()
	db = newOutboxDB(t)
	db.account(t, "a@example.com", "pending")
	db.account(t, "b@example.com", "pending")
	a, b = db.dead(t, "a@example.com", attemptsA), db.dead(t, "b@example.com", attemptsB)
	db.email(t, "b@example.com", keyCurrent)
	return db, a, b
}

func TestDeadEmailsAreListedWithoutTheirContent(t *testing.T) {
	t.Parallel()
	db, first, second := twoDead(t, 3, 1) // and a pending email, not listed

	dead, err := db.ob.DeadEmails(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead[0].ID != first || dead[1].ID != second {
		t.Fatalf("DeadEmails = %+v, want messages %d then %d", dead, first, second)
	}
	d := dead[0]
	if d.Recipient != "a@example.com" || d.Attempts != 3 || d.LastError != "gave up: 503 from the provider" ||
		time.Since(d.DeadSince) > time.Minute || d.DeadSince.After(dead[1].DeadSince) {
		t.Errorf("DeadEmails[0] = %+v", d)
	}
}

func TestRetryDead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(t *testing.T, db *outboxDB) int64 // returns the id to retry
		want   outbox.RetryOutcome
		reason string
	}{
		{"current code of a pending account", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			return db.dead(t, "a@example.com", 3)
		}, outbox.Retried, ""},
		{"code replaced by a resend", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			id := db.dead(t, "a@example.com", 3)
			db.email(t, "a@example.com", keyCurrent)
			return id
		}, outbox.Skipped, outbox.SkipCodeReplaced},
		{"account active", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			id := db.dead(t, "a@example.com", 3)
			db.exec(t, `UPDATE users SET status = 'active', activated_at = now()`)
			db.exec(t, `DELETE FROM codes`)
			return id
		}, outbox.Skipped, outbox.SkipActive},
		{"no account (an email older than the link to its account)", func(t *testing.T, db *outboxDB) int64 {
			return db.dead(t, "a@example.com", 3)
		}, outbox.Skipped, outbox.SkipAccountGone},
		{"account deleted: its emails went with it", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			id := db.dead(t, "a@example.com", 3)
			db.exec(t, `DELETE FROM users`)
			return id
		}, outbox.NotFound, ""},
		{"account replaced by a new registration: its emails went with it", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			id := db.dead(t, "a@example.com", 3)
			db.exec(t, `DELETE FROM users`)
			db.account(t, "a@example.com", "pending")
			db.email(t, "a@example.com", keyCurrent)
			return id
		}, outbox.NotFound, ""},
		{"not dead", func(t *testing.T, db *outboxDB) int64 {
			db.account(t, "a@example.com", "pending")
			return db.email(t, "a@example.com", keyCurrent)
		}, outbox.Skipped, outbox.SkipNotDead},
		{"no such email", func(*testing.T, *outboxDB) int64 { return 4242 }, outbox.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newOutboxDB(t)
			id := tt.setup(t, db)
			var keyBefore string
			_ = db.pool.QueryRow(context.Background(), `SELECT idempotency_key::text FROM outbox WHERE id = $1`, id).Scan(&keyBefore)
			before := db.rowIfAny(t, id)

			results, err := db.ob.RetryDead(context.Background(), []int64{id})
			if err != nil {
				t.Fatal(err)
			}
			want := outbox.RetryResult{ID: id, Outcome: tt.want, Reason: tt.reason}
			if len(results) != 1 || results[0] != want {
				t.Fatalf("RetryDead = %+v, want [%+v]", results, want)
			}
			after := db.rowIfAny(t, id)
			if tt.want != outbox.Retried {
				if after != before {
					t.Errorf("a skipped email changed from %+v to %+v", before, after)
				}
				return
			}
			if after.status != "pending" || after.attempts != 0 || after.untilNext > 0 {
				t.Errorf("retried email: %+v, want pending, due now, with a fresh attempt count", after)
			}
			m := db.claim(t, 1)[0]
			if m.ID != id || m.IdempotencyKey != keyBefore || m.Attempt != 1 {
				t.Errorf("claimed %+v, want message %d with its key %s at attempt 1", m, id, keyBefore)
			}
		})
	}
}

// rowIfAny returns the status and attempts of message id, zero when there is none.
func (db *outboxDB) rowIfAny(t *testing.T, id int64) outboxRow {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE id = $1`, id).Scan(&n); err != nil || n == 0 {
		return outboxRow{}
	}
	r := db.row(t, id)
	return outboxRow{status: r.status, attempts: r.attempts, untilNext: r.untilNext.Round(time.Hour)}
}

func TestRetryAllDead(t *testing.T) {
	t.Parallel()
	db, retried, stale := twoDead(t, 2, 2)

	results, err := db.ob.RetryAllDead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []outbox.RetryResult{
		{ID: retried, Outcome: outbox.Retried},
		{ID: stale, Outcome: outbox.Skipped, Reason: outbox.SkipCodeReplaced},
	}
	if len(results) != 2 || results[0] != want[0] || results[1] != want[1] {
		t.Fatalf("RetryAllDead = %+v, want %+v", results, want)
	}
	if dead, err := db.ob.DeadEmails(context.Background()); err != nil || len(dead) != 1 || dead[0].ID != stale {
		t.Errorf("dead after retrying all: %+v (%v), want only the stale one", dead, err)
	}
}

// `retry A B C` where retention deleted A after it was listed: A is reported not found, and
// B and C are retried all the same.
func TestRetryGoesOnPastAVanishedEmail(t *testing.T) {
	t.Parallel()
	db := newOutboxDB(t)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		db.account(t, email, "pending")
	}
	a, b, c := db.dead(t, "a@example.com", 1), db.dead(t, "b@example.com", 1), db.dead(t, "c@example.com", 1)
	// As retention deletes a dead email: its code unlinked, then the email.
	if _, err := db.pool.Exec(context.Background(), `WITH unlinked AS (
		UPDATE codes SET message_id = NULL, undeliverable = true WHERE message_id = $1
	) DELETE FROM outbox WHERE id = $1`, a); err != nil {
		t.Fatal(err)
	}
	results, err := db.ob.RetryDead(context.Background(), []int64{a, b, c})
	if err != nil || len(results) != 3 || results[0].Outcome != outbox.NotFound ||
		results[1].Outcome != outbox.Retried || results[2].Outcome != outbox.Retried {
		t.Fatalf("retry: %+v, %v", results, err)
	}
	for _, id := range []int64{b, c} {
		if r := db.row(t, id); r.status != "pending" {
			t.Errorf("email %d is %s after its retry, want pending", id, r.status)
		}
	}
}
