package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// These tests run the flows after sign-up on the real store: what each commits, and what it
// leaves behind.

// active registers and activates email.
func (e *env) active(t *testing.T, email string) registration.User {
	t.Helper()
	u := e.register(t, email)
	e.deliverAll(t)
	u, err := e.svc.Activate(context.Background(), u, e.latestCode(t, email))
	if err != nil {
		t.Fatalf("activate %s: %v", email, err)
	}
	return u
}

func TestResetOfAnUnknownAddressLeavesNoRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	if _, err := e.svc.RequestPasswordReset(context.Background(), "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResetPassword(context.Background(), "nobody@example.com", "1234", "new password 1"); !errors.Is(err, registration.ErrInvalidCode) {
		t.Fatalf("ResetPassword = %v, want ErrInvalidCode", err)
	}
	if n := e.count(t, `SELECT count(*) FROM address_codes`); n != 0 {
		t.Fatalf("%d address records, want none", n)
	}
}

func TestCodesOfEachKindLiveSideBySide(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "kinds@example.com")
	e.deliverAll(t)
	activation := e.latestCode(t, u.Email)
	if _, err := e.svc.RequestPasswordReset(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	e.deliverAll(t)
	reset := e.latestCode(t, u.Email)
	// The reset activates the pending account: the code proved the address.
	got, err := e.svc.ResetPassword(ctx, u.Email, reset, "new password 1")
	if err != nil || got.Status != registration.StatusActive {
		t.Fatalf("ResetPassword = %+v, %v; want the account active", got, err)
	}
	if _, err := e.svc.Activate(ctx, u, activation); !errors.Is(err, registration.ErrAlreadyActive) {
		t.Fatalf("Activate after the reset = %v, want ErrAlreadyActive", err)
	}
	if n := e.count(t, `SELECT count(*) FROM codes`); n != 0 {
		t.Fatalf("%d codes left, want none: both were spent", n)
	}
	kinds := e.count(t, `SELECT count(*) FROM outbox WHERE user_id = $1 AND email_kind = 'password_changed'`, u.ID)
	if kinds != 1 {
		t.Fatalf("%d password_changed notices, want 1", kinds)
	}
}

func TestEmailChangeMovesTheAccountAndFreesTheOldAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.active(t, "old@example.com")
	if _, err := e.svc.RequestEmailChange(ctx, u, "new@example.com"); err != nil {
		t.Fatal(err)
	}
	e.deliverAll(t)
	code := e.latestCode(t, "new@example.com")
	moved, err := e.svc.ConfirmEmailChange(ctx, u, code)
	if err != nil || moved.Email != "new@example.com" {
		t.Fatalf("ConfirmEmailChange = %+v, %v", moved, err)
	}
	if _, err := e.accounts.Account(ctx, "old@example.com"); !errors.Is(err, registration.ErrNotFound) {
		t.Fatalf("old address: %v, want no account", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.svc.Register(ctx, "old@example.com", "another password", registration.English); err != nil {
		t.Fatalf("register the old address again: %v", err)
	}
	notice := e.count(t, `SELECT count(*) FROM outbox WHERE recipient = 'old@example.com' AND email_kind = 'email_changed' AND user_id = $1`, u.ID)
	if notice != 1 {
		t.Fatalf("%d email_changed notices to the old address, want 1", notice)
	}
}

func TestDeleteCascadesEveryEmailOfTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.active(t, "leaver@example.com")
	if _, err := e.svc.RequestEmailChange(ctx, u, "elsewhere@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]int{
		`SELECT count(*) FROM users WHERE id = $1`:      0,
		`SELECT count(*) FROM codes WHERE user_id = $1`: 0,
		`SELECT count(*) FROM outbox WHERE user_id = $1 OR recipient IN ('leaver@example.com', 'elsewhere@example.com')`: 0,
	} {
		if n := e.count(t, query, u.ID); n != want {
			t.Errorf("%s: %d, want %d", query, n, want)
		}
	}
	// The quota history stays with each address that received a code.
	if n := e.count(t, `SELECT count(*) FROM address_codes WHERE issued <> '{}'`); n != 2 {
		t.Errorf("%d address histories, want 2", n)
	}
}

// TestClaimTellsWhichCodesAreNoLongerLive: an email whose code was replaced by a newer one of
// its kind, or used, comes back from a claim marked stale, and Drop deletes it; the email of
// the live code and a notice do not.
func TestClaimTellsWhichCodesAreNoLongerLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	ob := postgres.NewOutbox(e.pool)
	claim := func(want ...string) {
		t.Helper()
		msgs, err := ob.Claim(ctx, e.keys.IDs(), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(want) {
			t.Fatalf("claimed %d messages, want %d", len(msgs), len(want))
		}
		for i, m := range msgs {
			if m.Stale != want[i] {
				t.Errorf("message %d: stale %q, want %q", i, m.Stale, want[i])
			}
			if m.Stale != "" {
				if err := ob.Drop(ctx, m.ID, m.Attempt); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	u := e.register(t, "stale@example.com")
	e.clock.Advance(defaultPolicy.ResendCooldown)
	if _, err := e.svc.Resend(ctx, u); err != nil {
		t.Fatal(err)
	}
	claim(outbox.DropSuperseded, "") // the first activation code, then the live one
	if _, err := e.svc.RequestPasswordReset(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	code := e.latestCode(t, u.Email)
	if _, err := e.svc.ResetPassword(ctx, u.Email, code, "new password 1"); err != nil {
		t.Fatal(err)
	}
	claim(outbox.DropSpent, "") // the used reset code, then the password_changed notice
	if n := e.count(t, `SELECT count(*) FROM outbox`); n != 2 {
		t.Fatalf("%d emails left, want the live activation code's and the notice", n)
	}
}
