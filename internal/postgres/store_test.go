package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// pendingAccount returns a new pending account for email with a code issued at registrationtest.T0.
func pendingAccount(id, email string) *registration.Account {
	return &registration.Account{
		User:         registration.User{ID: id, Email: email, Status: registration.StatusPending, CreatedAt: registrationtest.T0},
		PasswordHash: "fake$" + id,
		Language:     registration.French,
		Codes:        map[registration.CodeKind]*registration.Code{registration.CodeActivation: {Kind: registration.CodeActivation, Hash: []byte("hash-" + id), IssuedAt: registrationtest.T0}},
	}
}

const (
	idA = "0b7e4a34-8c55-4c2e-9d3f-0e6a1b2c3d4e"
	idB = "5f1d2e3c-4b5a-4968-8776-655443322110"
)

// utc returns acct with every time in UTC, as constructed by the tests, for comparison.
func utc(acct registration.Account) registration.Account {
	acct.User.CreatedAt = acct.User.CreatedAt.UTC()
	if at := acct.User.ActivatedAt; at != nil {
		acct.User.ActivatedAt = new(at.UTC())
	}
	codes := acct.Codes
	acct.Codes = nil
	for kind, code := range codes {
		c := *code
		c.IssuedAt = c.IssuedAt.UTC()
		if c.SentAt != nil {
			c.SentAt = new(c.SentAt.UTC())
		}
		if acct.Codes == nil {
			acct.Codes = map[registration.CodeKind]*registration.Code{}
		}
		acct.Codes[kind] = &c
	}
	return acct
}

var activated = registrationtest.T0.Add(time.Minute)

// outgoing is an outgoing email for the tests that do not open it.
var outgoing = registration.SealedEmail{Kind: registration.EmailActivationCode, Recipient: "alice@example.com", Sealed: []byte("sealed"), KeyID: []byte("key")}

// create records the creation of account id, with its code, on a.
func create(id string) func(*registration.Address) error {
	return func(a *registration.Address) error {
		acct := pendingAccount(id, a.Email)
		a.CreateAccount(*acct)
		a.IssueCode(a.Account, *acct.Code(registration.CodeActivation), outgoing)
		return nil
	}
}

// roundTrips are sequences of changes to one address and the account they leave behind.
var roundTrips = []struct {
	name  string
	steps []func(*registration.Address) error
	want  *registration.Account // nil: no account
}{
	{
		name:  "new address stays empty",
		steps: []func(*registration.Address) error{func(*registration.Address) error { return nil }},
	},
	{
		name:  "create with code and email",
		steps: []func(*registration.Address) error{create(idA)},
		want:  pendingAccount(idA, "alice@example.com"),
	},
	{
		name: "wrong attempt is counted",
		steps: []func(*registration.Address) error{
			create(idA),
			func(a *registration.Address) error { a.CountAttempt(registration.CodeActivation); return nil },
			func(a *registration.Address) error { a.CountAttempt(registration.CodeActivation); return nil },
		},
		want: func() *registration.Account {
			acct := pendingAccount(idA, "alice@example.com")
			acct.Code(registration.CodeActivation).Attempts = 2
			return acct
		}(),
	},
	{
		name: "a new code replaces the old one",
		steps: []func(*registration.Address) error{
			create(idA),
			func(a *registration.Address) error { a.CountAttempt(registration.CodeActivation); return nil },
			func(a *registration.Address) error {
				a.IssueCode(a.Account, registration.Code{Kind: registration.CodeActivation, Hash: []byte("new"), IssuedAt: activated}, outgoing)
				return nil
			},
		},
		want: func() *registration.Account {
			acct := pendingAccount(idA, "alice@example.com")
			acct.Codes[registration.CodeActivation] = &registration.Code{Kind: registration.CodeActivation, Hash: []byte("new"), IssuedAt: activated}
			return acct
		}(),
	},
	{
		name: "activation deletes the code",
		steps: []func(*registration.Address) error{
			create(idA),
			func(a *registration.Address) error { a.Activate(activated); return nil },
		},
		want: func() *registration.Account {
			acct := pendingAccount(idA, "alice@example.com")
			acct.User.Status, acct.User.ActivatedAt, acct.Codes = registration.StatusActive, &activated, nil
			return acct
		}(),
	},
	{
		name:  "another account replaces the first",
		steps: []func(*registration.Address) error{create(idA), create(idB)},
		want:  pendingAccount(idB, "alice@example.com"),
	},
	{
		name: "a re-hashed password is stored",
		steps: []func(*registration.Address) error{
			create(idA),
			func(a *registration.Address) error { a.RehashPassword(a.Account.PasswordHash, "rehashed"); return nil },
		},
		want: func() *registration.Account {
			acct := pendingAccount(idA, "alice@example.com")
			acct.PasswordHash = "rehashed"
			return acct
		}(),
	},
}

func TestUpdateAddressRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, defaultPolicy)
			email := "alice@example.com"
			for i, step := range tt.steps {
				if err := e.accounts.UpdateAddress(context.Background(), email, step); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			got, err := e.accounts.Account(context.Background(), email)
			if tt.want == nil {
				if !errors.Is(err, registration.ErrNotFound) {
					t.Fatalf("Account = %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Account: %v", err)
			}
			if got, want := utc(got), *tt.want; !reflect.DeepEqual(got, want) {
				t.Errorf("Account =\n%+v %+v\nwant\n%+v %+v", got, got.Code(registration.CodeActivation), want, want.Code(registration.CodeActivation))
			}
		})
	}
}

func TestUpdateAddressKeepsCodesIssued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	email := "alice@example.com"
	issues := []time.Time{registrationtest.T0, registrationtest.T0.Add(time.Hour), registrationtest.T0.Add(registration.QuotaWindow + 30*time.Minute)}
	wants := [][]time.Time{issues[:1], issues[:2], issues[1:]} // the first left the window
	if err := e.accounts.UpdateAddress(ctx, email, create(idA)); err != nil {
		t.Fatal(err)
	}
	for i, at := range issues {
		if i > 0 {
			err := e.accounts.UpdateAddress(ctx, email, func(a *registration.Address) error {
				a.IssueCode(a.Account, registration.Code{Kind: registration.CodeActivation, Hash: []byte("h"), IssuedAt: at}, outgoing)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var got []time.Time
		_ = e.accounts.UpdateAddress(ctx, email, func(a *registration.Address) error {
			got = a.CodesIssued
			return nil
		})
		if !slices.EqualFunc(got, wants[i], time.Time.Equal) {
			t.Fatalf("after issue %d: CodesIssued = %v, want %v", i, got, wants[i])
		}
	}
}

func TestUpdateAddressRollsBackOnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	email := "rollback@example.com"
	boom := errors.New("boom")
	err := e.accounts.UpdateAddress(ctx, email, func(a *registration.Address) error {
		_ = create(idA)(a)
		return boom
	})
	if err != boom {
		t.Fatalf("UpdateAddress = %v, want fn's error unchanged", err)
	}
	if _, err := e.accounts.Account(ctx, email); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Account after rollback: %v, want ErrNotFound", err)
	}
	var messages int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&messages); err != nil || messages != 0 {
		t.Errorf("outbox holds %d messages (%v), want 0", messages, err)
	}
}

// A transaction that fn abandons, by an error (a wrong code, say: an everyday answer) or a
// panic, is rolled back before UpdateAddress returns: its lock is free at once, and its
// connection goes back to the pool rather than being closed and dialled again.
func TestUpdateAddressRollsBackAnAbandonedTransactionOnItsConnection(t *testing.T) {
	t.Parallel()
	pool := newPool(t) // and no dispatcher wake-ups, which would use connections of their own
	accounts := postgres.NewAccountStore(pool, nil)
	ctx := context.Background()
	email := "abandoned@example.com"
	if err := accounts.UpdateAddress(ctx, email, create(idA)); err != nil {
		t.Fatal(err)
	}
	dialled := pool.Stat().NewConnsCount()
	fail := map[string]func(*registration.Address) error{
		"error": func(*registration.Address) error { return errors.New("boom") },
		"panic": func(*registration.Address) error { panic("boom") },
	}
	for name, fn := range fail {
		func() {
			defer func() { _ = recover() }()
			_ = accounts.UpdateAddress(ctx, email, fn)
		}()
		var locked int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT FROM address_codes WHERE email = $1 FOR UPDATE NOWAIT) l`, email).Scan(&locked)
		if err != nil || locked != 1 {
			t.Errorf("after fn's %s: locking the address again = %d rows, %v; want it free at once", name, locked, err)
		}
	}
	if err := accounts.UpdateAddress(ctx, email, func(*registration.Address) error { return nil }); err != nil {
		t.Errorf("UpdateAddress after the failures: %v", err)
	}
	if n := pool.Stat().NewConnsCount() - dialled; n != 0 {
		t.Errorf("the failures cost %d new connections, want their transactions rolled back on the same one", n)
	}
}

// The address lock makes a duplicate email impossible through the Service; the constraint is
// the safety net, and its violation must still read as ErrEmailTaken.
func TestUpdateAddressUniqueViolationIsEmailTaken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	taken := "taken@example.com"
	if err := e.accounts.UpdateAddress(ctx, taken, create(idA)); err != nil {
		t.Fatal(err)
	}
	err := e.accounts.UpdateAddress(ctx, "other@example.com", func(a *registration.Address) error {
		a.CreateAccount(*pendingAccount(idB, taken)) // a buggy caller: the account names another address
		return nil
	})
	if !errors.Is(err, registration.ErrEmailTaken) {
		t.Fatalf("UpdateAddress = %v, want ErrEmailTaken", err)
	}
	// The violation came in the batch that also carries the COMMIT: the whole transaction,
	// the lock's new address record and the account's email included, is rolled back.
	var addresses, messages int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM address_codes WHERE email = 'other@example.com'),
		(SELECT count(*) FROM outbox WHERE user_id = $1)`, idB).Scan(&addresses, &messages); err != nil {
		t.Fatal(err)
	}
	if addresses != 0 || messages != 0 {
		t.Errorf("after the violation: %d address records and %d emails of the refused account, want none", addresses, messages)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	if err := e.accounts.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	e.pool.Close()
	if err := e.accounts.Ping(context.Background()); err == nil {
		t.Fatal("Ping on a closed pool succeeded")
	}
}
