package registrationtest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// Harness is a registration.Store under test, with what a dispatcher does to its outbox.
type Harness struct {
	Store registration.Store
	// Emails returns the emails committed to recipient, oldest first, sent or not.
	Emails func(t *testing.T, recipient string) []registration.SealedEmail
	// Deliver settles the waiting emails to recipient as accepted by the provider at at.
	Deliver func(t *testing.T, recipient string, at time.Time)
	// GiveUp settles the waiting emails to recipient as given up on.
	GiveUp func(t *testing.T, recipient string)
	// Events returns how many events about account id are queued.
	Events func(t *testing.T, accountID string) int
}

// Memory returns the harness of a new in-memory Store.
func Memory(*testing.T) Harness {
	s := NewStore()
	return Harness{
		Store: s,
		Emails: func(_ *testing.T, recipient string) []registration.SealedEmail {
			var out []registration.SealedEmail
			for _, m := range s.Messages() {
				if m.Event == nil && m.Email.Recipient == recipient {
					out = append(out, m.Email)
				}
			}
			return out
		},
		Deliver: func(_ *testing.T, recipient string, at time.Time) { s.Deliver(recipient, at) },
		GiveUp:  func(_ *testing.T, recipient string) { s.GiveUp(recipient) },
		Events: func(_ *testing.T, id string) int {
			n := 0
			for _, m := range s.Messages() {
				if m.Event != nil && m.UserID == id {
					n++
				}
			}
			return n
		},
	}
}

// Policy is the policy of the contract's services.
var Policy = registration.Policy{
	CodeTTL:        time.Minute,
	MaxAttempts:    5,
	ResendCooldown: 30 * time.Second,
	MaxCodesPerDay: 3,
	Events:         true,
}

const password = "correct horse battery"

// fixture is a Service over a harness's store, with its clock and keys.
type fixture struct {
	Harness
	svc   *registration.Service
	keys  *registration.CodeKeys
	clock *Clock
}

func newFixture(t *testing.T, newHarness func(*testing.T) Harness) *fixture {
	t.Helper()
	secret := make([]byte, registration.SecretSize)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	keys, err := registration.NewCodeKeys(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{Harness: newHarness(t), keys: keys, clock: NewClock()}
	if f.svc, err = registration.NewService(t.Context(), f.Store, Hasher{}, keys, Policy, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	return f
}

// register registers email and fails t when that does not work.
func (f *fixture) register(t *testing.T, email string) registration.User {
	t.Helper()
	u, err := f.svc.Register(t.Context(), email, password, registration.English)
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// lastCode returns the code of the newest email to recipient.
func (f *fixture) lastCode(t *testing.T, recipient string) string {
	t.Helper()
	emails := f.Emails(t, recipient)
	if len(emails) == 0 {
		t.Fatalf("no email to %s", recipient)
	}
	last := emails[len(emails)-1]
	e, err := f.keys.Open(last.Sealed, last.KeyID)
	if err != nil || e.Code == "" {
		t.Fatalf("newest email to %s: %+v, %v; want one with a code", recipient, e, err)
	}
	return e.Code
}

// wrong returns a well-formed code other than code.
func wrong(code string) string {
	if code == "0000" {
		return "0001"
	}
	return "0000"
}

// RunStoreContract runs the contract of registration.Store over the stores newHarness makes, each
// test on a store of its own: what the domain records is what the next transaction loads,
// all of it or, when the domain function fails, none; calls on one address take turns.
func RunStoreContract(t *testing.T, newHarness func(*testing.T) Harness) {
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newFixture(t, newHarness))
		})
	}
}

var contract = []struct {
	name string
	test func(*testing.T, *fixture)
}{
	{"UnknownAddressHasNoAccount", func(t *testing.T, f *fixture) {
		if _, err := f.Store.Account(t.Context(), "nobody@example.com"); !errors.Is(err, registration.ErrNotFound) {
			t.Fatalf("Account of an unknown address: %v, want ErrNotFound", err)
		}
	}},
	{"ActivatedWithTheCodeOfItsEmail", func(t *testing.T, f *fixture) {
		u := f.register(t, "ann@example.com")
		if _, err := f.svc.Activate(t.Context(), u, f.lastCode(t, u.Email)); err != nil {
			t.Fatalf("activate: %v", err)
		}
		acct, err := f.Store.Account(t.Context(), u.Email)
		if err != nil || acct.User.Status != registration.StatusActive || acct.User.ActivatedAt == nil ||
			acct.Code(registration.CodeActivation) != nil {
			t.Fatalf("after activation: %+v, %v; want active, without an activation code", acct, err)
		}
		if got := f.Events(t, u.ID); got != 2 {
			t.Fatalf("%d events, want user.created and user.activated", got)
		}
	}},
	{"CodeExpiresATTLAfterItsEmailWasAccepted", func(t *testing.T, f *fixture) {
		u := f.register(t, "bob@example.com")
		code := f.lastCode(t, u.Email)
		f.clock.Advance(10 * Policy.CodeTTL) // still on its way: the lifetime has not started
		f.Deliver(t, u.Email, f.clock.Now())
		f.clock.Advance(Policy.CodeTTL)
		if _, err := f.svc.Activate(t.Context(), u, code); !errors.Is(err, registration.ErrCodeExpired) {
			t.Fatalf("activate a TTL after delivery: %v, want ErrCodeExpired", err)
		}
		if _, err := f.svc.Resend(t.Context(), u); err != nil {
			t.Fatalf("resend: %v", err)
		}
		fresh := f.lastCode(t, u.Email)
		if fresh != code {
			if _, err := f.svc.Activate(t.Context(), u, code); !errors.Is(err, registration.ErrInvalidCode) {
				t.Fatalf("the replaced code: %v, want ErrInvalidCode", err)
			}
		}
		if _, err := f.svc.Activate(t.Context(), u, fresh); err != nil {
			t.Fatalf("activate with the new code: %v", err)
		}
	}},
	{"WrongCodesAreCountedUntilTheCodeBurns", func(t *testing.T, f *fixture) {
		u := f.register(t, "cid@example.com")
		code := f.lastCode(t, u.Email)
		for i := 1; i <= Policy.MaxAttempts; i++ {
			if _, err := f.svc.Activate(t.Context(), u, wrong(code)); !errors.Is(err, registration.ErrInvalidCode) {
				t.Fatalf("wrong code %d: %v, want ErrInvalidCode", i, err)
			}
			acct, _ := f.Store.Account(t.Context(), u.Email)
			if c := acct.Code(registration.CodeActivation); c == nil || c.Attempts != i {
				t.Fatalf("after %d wrong codes the stored code is %+v", i, c)
			}
		}
		if _, err := f.svc.Activate(t.Context(), u, code); !errors.Is(err, registration.ErrTooManyAttempts) {
			t.Fatalf("the right code after %d wrong ones: %v, want ErrTooManyAttempts", Policy.MaxAttempts, err)
		}
	}},
	{"CodeGivenUpOnFreesTheAddress", func(t *testing.T, f *fixture) {
		u := f.register(t, "dee@example.com")
		code := f.lastCode(t, u.Email)
		f.GiveUp(t, u.Email)
		if _, err := f.svc.Activate(t.Context(), u, code); !errors.Is(err, registration.ErrCodeExpired) {
			t.Fatalf("a code whose email was given up on: %v, want ErrCodeExpired", err)
		}
		again := f.register(t, u.Email)
		if again.ID == u.ID {
			t.Fatal("registering again kept the old account")
		}
		if got := f.Emails(t, u.Email); len(got) != 1 {
			t.Fatalf("%d emails to the address, want only the new account's", len(got))
		}
	}},
	{"FailedFunctionWritesNothing", func(t *testing.T, f *fixture) {
		errStop := errors.New("stop")
		err := f.Store.UpdateAddress(t.Context(), "eve@example.com", func(a *registration.Address) error {
			a.CreateAccount(registration.Account{User: registration.User{ID: "0190a0b0-0000-7000-8000-000000000001",
				Email: a.Email, Status: registration.StatusPending, CreatedAt: f.clock.Now()}, PasswordHash: "x"})
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("UpdateAddress returned %v, want the function's error", err)
		}
		if _, err := f.Store.Account(t.Context(), "eve@example.com"); !errors.Is(err, registration.ErrNotFound) {
			t.Fatalf("after a failed function: %v, want ErrNotFound", err)
		}
	}},
	{"ConcurrentRegistrationsOfOneAddressTakeTurns", func(t *testing.T, f *fixture) {
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := f.svc.Register(context.WithoutCancel(t.Context()), "fay@example.com", password, registration.English)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, registration.ErrEmailTaken):
				t.Errorf("register: %v", err)
			}
		}
		if created != 1 || len(f.Emails(t, "fay@example.com")) != 1 {
			t.Fatalf("%d accounts created, %d emails; want one of each", created, len(f.Emails(t, "fay@example.com")))
		}
	}},
	{"PasswordResetSetsThePasswordAndActivates", func(t *testing.T, f *fixture) {
		u := f.register(t, "gil@example.com")
		f.clock.Advance(Policy.ResendCooldown)
		if _, err := f.svc.RequestPasswordReset(t.Context(), u.Email); err != nil {
			t.Fatalf("request reset: %v", err)
		}
		if _, err := f.svc.ResetPassword(t.Context(), u.Email, f.lastCode(t, u.Email), "a new passphrase"); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if _, err := f.svc.Authenticate(t.Context(), u.Email, password); !errors.Is(err, registration.ErrUnauthorized) {
			t.Fatalf("the old password: %v, want ErrUnauthorized", err)
		}
		got, err := f.svc.Authenticate(t.Context(), u.Email, "a new passphrase")
		if err != nil || got.Status != registration.StatusActive {
			t.Fatalf("the new password: %+v, %v; want an active account", got, err)
		}
	}},
	{"AddressChangeMovesTheAccount", func(t *testing.T, f *fixture) {
		u := f.register(t, "hal@example.com")
		u, _ = f.svc.Activate(t.Context(), u, f.lastCode(t, u.Email))
		if _, err := f.svc.RequestEmailChange(t.Context(), u, "hal.new@example.com"); err != nil {
			t.Fatalf("request change: %v", err)
		}
		moved, err := f.svc.ConfirmEmailChange(t.Context(), u, f.lastCode(t, "hal.new@example.com"))
		if err != nil || moved.ID != u.ID || moved.Email != "hal.new@example.com" {
			t.Fatalf("confirm: %+v, %v", moved, err)
		}
		if _, err := f.Store.Account(t.Context(), u.Email); !errors.Is(err, registration.ErrNotFound) {
			t.Fatalf("the old address after the move: %v, want ErrNotFound", err)
		}
		acct, err := f.Store.Account(t.Context(), moved.Email)
		if err != nil || acct.User.ID != u.ID || len(acct.Codes) != 0 {
			t.Fatalf("the new address: %+v, %v; want the account without codes", acct, err)
		}
	}},
	{"DeleteRemovesTheAccountAndItsEmailsNotItsEvents", func(t *testing.T, f *fixture) {
		u := f.register(t, "ivy@example.com")
		if err := f.svc.Delete(t.Context(), u); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := f.Store.Account(t.Context(), u.Email); !errors.Is(err, registration.ErrNotFound) {
			t.Fatalf("after delete: %v, want ErrNotFound", err)
		}
		if got := f.Emails(t, u.Email); len(got) != 0 {
			t.Fatalf("%d emails to a deleted account remain", len(got))
		}
		if got := f.Events(t, u.ID); got != 2 {
			t.Fatalf("%d events, want user.created and user.deleted", got)
		}
	}},
	{"DailyQuotaOutlivesTheAccount", func(t *testing.T, f *fixture) {
		for i := range Policy.MaxCodesPerDay {
			u := f.register(t, "jo@example.com")
			if err := f.svc.Delete(t.Context(), u); err != nil {
				t.Fatalf("delete %d: %v", i, err)
			}
		}
		var retry *registration.RetryError
		_, err := f.svc.Register(t.Context(), "jo@example.com", password, registration.English)
		if !errors.Is(err, registration.ErrResendCooldown) || !errors.As(err, &retry) || retry.After <= 0 {
			t.Fatalf("registration past the quota: %v, want a RetryError wrapping ErrResendCooldown", err)
		}
		f.clock.Advance(registration.QuotaWindow)
		f.register(t, "jo@example.com")
	}},
}
