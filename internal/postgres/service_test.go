package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// These tests run the domain service on the real store: the rules are the domain's, the
// guarantees under concurrency are the store's.

func TestParallelRegistrationsOfOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	const n = 16
	counts := parallel(n, func(int) error {
		_, err := e.svc.Register(context.Background(), "Same@Example.com", "correct horse battery", registration.English)
		return err
	}, registration.ErrEmailTaken)
	if counts[nil] != 1 || counts[registration.ErrEmailTaken] != n-1 {
		t.Fatalf("outcomes %v, want 1 success and %d ErrEmailTaken", counts, n-1)
	}
	var users, messages int
	err := e.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM outbox)`).Scan(&users, &messages)
	if err != nil || users != 1 || messages != 1 {
		t.Errorf("%d users and %d messages (%v), want one of each", users, messages, err)
	}
}

func TestParallelWrongCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "guess@example.com")
	code := e.latestCode(t, u.Email)
	const n = 20
	counts := parallel(n, func(int) error {
		_, err := e.svc.Activate(ctx, u, wrongCode(code))
		return err
	}, registration.ErrInvalidCode, registration.ErrTooManyAttempts)
	limit := defaultPolicy.MaxAttempts
	if counts[registration.ErrInvalidCode] != limit || counts[registration.ErrTooManyAttempts] != n-limit {
		t.Fatalf("outcomes %v, want %d ErrInvalidCode and %d ErrTooManyAttempts", counts, limit, n-limit)
	}
	acct, err := e.accounts.Account(ctx, u.Email)
	if err != nil || acct.Code(registration.CodeActivation) == nil || acct.Code(registration.CodeActivation).Attempts != limit {
		t.Fatalf("stored code %+v (%v), want %d attempts", acct.Code(registration.CodeActivation), err, limit)
	}
	if _, err := e.svc.Activate(ctx, u, code); !errors.Is(err, registration.ErrTooManyAttempts) {
		t.Errorf("right code on a burned one: %v, want ErrTooManyAttempts", err)
	}
}

func TestParallelCorrectActivations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u := e.register(t, "twice@example.com")
	code := e.latestCode(t, u.Email)
	const n = 8
	counts := parallel(n, func(int) error {
		_, err := e.svc.Activate(ctx, u, code)
		return err
	}, registration.ErrAlreadyActive)
	if counts[nil] != 1 || counts[registration.ErrAlreadyActive] != n-1 {
		t.Fatalf("outcomes %v, want 1 success and %d ErrAlreadyActive", counts, n-1)
	}
	acct, err := e.accounts.Account(ctx, u.Email)
	if err != nil || acct.User.Status != registration.StatusActive || acct.User.ActivatedAt == nil || acct.Code(registration.CodeActivation) != nil {
		t.Errorf("stored account %+v, code %+v (%v); want active without a code", acct.User, acct.Code(registration.CodeActivation), err)
	}
}

func TestRegisterAgain(t *testing.T) {
	t.Parallel()
	ttl := defaultPolicy.CodeTTL
	tests := []struct {
		name    string
		sent    bool          // the first code's email was accepted by the provider
		advance time.Duration // from registration to the second attempt
		wantErr error
	}{
		{"code still valid", true, ttl - time.Microsecond, registration.ErrEmailTaken},
		{"code expired", true, ttl, nil},
		{"code never sent", false, 10 * ttl, registration.ErrEmailTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, defaultPolicy)
			ctx := context.Background()
			first := e.register(t, "again@example.com")
			if tt.sent {
				e.deliverAll(t)
			}
			e.clock.Advance(tt.advance)
			second, err := e.svc.Register(ctx, "again@example.com", "another password", registration.English)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("second Register: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if second.ID == first.ID {
				t.Fatal("the second registration kept the first account's ID")
			}
			if _, err := e.svc.Authenticate(ctx, "again@example.com", "another password"); err != nil {
				t.Errorf("new password: %v", err)
			}
			if _, err := e.svc.Activate(ctx, first, e.latestCode(t, first.Email)); !errors.Is(err, registration.ErrUnauthorized) {
				t.Errorf("activating the replaced account: %v, want ErrUnauthorized", err)
			}
			if _, err := e.svc.Activate(ctx, second, e.latestCode(t, second.Email)); err != nil {
				t.Errorf("activating the new account: %v", err)
			}
		})
	}
}

func TestDailyQuota(t *testing.T) {
	t.Parallel()
	policy := defaultPolicy
	policy.MaxCodesPerDay = 3
	e := newEnv(t, policy)
	ctx := context.Background()
	u := e.register(t, "quota@example.com")
	step := policy.ResendCooldown
	for range policy.MaxCodesPerDay - 1 {
		e.clock.Advance(step)
		if _, err := e.svc.Resend(ctx, u); err != nil {
			t.Fatalf("resend within quota: %v", err)
		}
	}
	e.clock.Advance(step)
	_, err := e.svc.Resend(ctx, u)
	wait, ok := registration.RetryAfter(err)
	if !errors.Is(err, registration.ErrResendCooldown) || !ok {
		t.Fatalf("resend beyond quota: %v, want ErrResendCooldown", err)
	}
	// The first code leaves the window QuotaWindow after registration.
	if want := registration.QuotaWindow - time.Duration(policy.MaxCodesPerDay)*step; wait != want {
		t.Errorf("retry after %v, want %v", wait, want)
	}
	e.clock.Advance(wait)
	if _, err := e.svc.Resend(ctx, u); err != nil {
		t.Fatalf("resend once the oldest code left the window: %v", err)
	}
	var issued int
	if err := e.pool.QueryRow(ctx, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, u.Email).Scan(&issued); err != nil {
		t.Fatal(err)
	}
	if issued != policy.MaxCodesPerDay {
		t.Errorf("address keeps %d issue times, want %d", issued, policy.MaxCodesPerDay)
	}
}

// A code's lifetime starts when the provider accepts its email, not when it is issued.
func TestMarkSentStartsCodeLifetime(t *testing.T) {
	t.Parallel()
	ttl := defaultPolicy.CodeTTL
	tests := []struct {
		name      string
		sentAfter time.Duration // from issue to the provider accepting the email
		useAfter  time.Duration // from then to the activation
		wantErr   error
	}{
		{"right after sending", 10 * time.Minute, 0, nil},
		{"just before expiry", 10 * time.Minute, ttl - time.Microsecond, nil},
		{"at expiry", 10 * time.Minute, ttl, registration.ErrCodeExpired},
		{"sent at once, used late", 0, ttl + time.Second, registration.ErrCodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, defaultPolicy)
			u := e.register(t, "lifetime@example.com")
			e.clock.Advance(tt.sentAfter)
			e.deliverAll(t)
			e.clock.Advance(tt.useAfter)
			_, err := e.svc.Activate(context.Background(), u, e.latestCode(t, u.Email))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Activate: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
