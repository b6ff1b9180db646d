package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// NewAccountStore' committed is called after each transaction that committed an email, and only then.
func TestCommittedFollowsEachCommittedEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	var calls atomic.Int32
	e.accounts = postgres.NewAccountStore(e.pool, func() { calls.Add(1) })
	svc := e.service(t, e.keys)
	ctx := context.Background()
	u, err := svc.Register(ctx, "committed@example.com", "correct horse battery", registration.English)
	if err != nil || calls.Load() != 1 {
		t.Fatalf("after a registration: %d calls (%v), want 1", calls.Load(), err)
	}
	if _, err := svc.Register(ctx, "committed@example.com", "correct horse battery", registration.English); !errors.Is(err, registration.ErrEmailTaken) || calls.Load() != 1 {
		t.Fatalf("after a refused registration: %d calls (%v), want still 1", calls.Load(), err)
	}
	if _, err := svc.Activate(ctx, u, wrongCode(e.latestCode(t, u.Email))); !errors.Is(err, registration.ErrInvalidCode) || calls.Load() != 1 {
		t.Fatalf("after a wrong code: %d calls (%v), want still 1", calls.Load(), err)
	}
	e.clock.Advance(defaultPolicy.ResendCooldown)
	if _, err := svc.Resend(ctx, u); err != nil || calls.Load() != 2 {
		t.Fatalf("after a resend: %d calls (%v), want 2", calls.Load(), err)
	}
}
