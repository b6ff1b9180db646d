package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

func TestIdempotencyRecordCommitsWithTheEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	keys := postgres.NewIdempotencyKeys(e.pool)
	const scope, endpoint, key = "", "POST /v1/users", "k1"
	reserved, _, _, err := keys.Reserve(ctx, scope, endpoint, key, []byte("h"), time.Minute)
	if err != nil || !reserved {
		t.Fatalf("Reserve = %v, %v; want reserved", reserved, err)
	}
	if again, hash, answer, err := keys.Reserve(ctx, scope, endpoint, key, []byte("h"), time.Minute); err != nil || again || string(hash) != "h" || answer != nil {
		t.Fatalf("second Reserve = %v %q %q %v; want held, unanswered", again, hash, answer, err)
	}
	receipt := &registration.Receipt{Scope: scope, Endpoint: endpoint, Key: key,
		Answer: func(result any, err error) []byte { return []byte("created " + result.(registration.User).Email) }}
	if _, err := e.svc.Register(registration.WithReceipt(ctx, receipt), "first@example.com", "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	if err := keys.Release(ctx, scope, endpoint, key); err != nil {
		t.Fatal(err)
	}
	_, _, answer, err := keys.Reserve(ctx, scope, endpoint, key, []byte("h"), time.Minute)
	if err != nil || string(answer) != "created first@example.com" {
		t.Fatalf("answer %q (%v), want the recorded one, kept by Release", answer, err)
	}

	// A request that took no effect releases its key: a retry is processed anew.
	if reserved, _, _, _ := keys.Reserve(ctx, scope, endpoint, "k2", []byte("h"), time.Minute); !reserved {
		t.Fatal("k2 not reserved")
	}
	if err := keys.Release(ctx, scope, endpoint, "k2"); err != nil {
		t.Fatal(err)
	}
	if reserved, _, _, _ := keys.Reserve(ctx, scope, endpoint, "k2", []byte("other"), time.Minute); !reserved {
		t.Fatal("k2 not reserved again after its release")
	}
}

// TestLapsedReservationNeverCommitsTwice: when a holder outlives its hold and a retry takes
// the key over and takes effect, the first holder's effect rolls back.
func TestLapsedReservationNeverCommitsTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	keys := postgres.NewIdempotencyKeys(e.pool)
	const scope, endpoint, key = "", "POST /v1/users", "lapsed"
	if reserved, _, _, _ := keys.Reserve(ctx, scope, endpoint, key, []byte("h"), 0); !reserved {
		t.Fatal("not reserved")
	}
	if reserved, _, _, _ := keys.Reserve(ctx, scope, endpoint, key, []byte("h"), time.Minute); !reserved {
		t.Fatal("a lapsed reservation was not taken over")
	}
	receipt := &registration.Receipt{Scope: scope, Endpoint: endpoint, Key: key,
		Answer: func(any, error) []byte { return []byte("answer") }}
	rctx := registration.WithReceipt(ctx, receipt)
	if _, err := e.svc.Register(rctx, "a@example.com", "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Register(rctx, "b@example.com", "correct horse battery", "")
	if !errors.Is(err, registration.ErrRequestAnswered) {
		t.Fatalf("second effect under one key: %v, want ErrRequestAnswered", err)
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE email = 'b@example.com'`); n != 0 {
		t.Fatalf("the second effect committed")
	}
}

func TestRetentionDeletesDayOldIdempotencyRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `INSERT INTO idempotency_keys (scope, endpoint, key, request_hash, answer, locked_until, created_at)
		VALUES ('', 'POST /v1/users', 'old', 'h', 'a', now(), now() - interval '25 hours'),
		       ('', 'POST /v1/users', 'new', 'h', 'a', now(), now() - interval '23 hours')`)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := postgres.NewRetention(e.pool, postgres.RetentionConfig{}, nil, nil).RunOnce(ctx)
	if err != nil || removed.IdempotencyKeys != 1 {
		t.Fatalf("removed %+v (%v), want 1 idempotency key", removed, err)
	}
	if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = 'new'`); n != 1 {
		t.Fatal("a record younger than a day was removed")
	}
}
