package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/regapi/regapi/internal/registration"
)

// versionedHasher makes hashes "vN$password$serial" with N its current parameter version, so
// that a hash made before the version moved needs re-hashing. While armed, Hash waits until
// armed callers are all in, so that concurrent logins verify the same stored hash before any
// of them re-hashes.
type versionedHasher struct {
	version atomic.Int32
	serial  atomic.Int32
	fail    atomic.Bool
	barrier sync.WaitGroup
	armed   atomic.Bool
}

func (h *versionedHasher) Hash(_ context.Context, password string) (string, error) {
	if h.armed.Load() {
		h.barrier.Done()
		h.barrier.Wait()
	}
	if h.fail.Load() {
		return "", registration.ErrOverloaded
	}
	return fmt.Sprintf("v%d$%s$%d", h.version.Load(), password, h.serial.Add(1)), nil
}

func (h *versionedHasher) Verify(_ context.Context, encoded, password string) (bool, error) {
	_, rest, _ := strings.Cut(encoded, "$")
	pw, _, _ := strings.Cut(rest, "$")
	return pw == password, nil
}

func (h *versionedHasher) NeedsRehash(encoded string) bool {
	return !strings.HasPrefix(encoded, fmt.Sprintf("v%d$", h.version.Load()))
}

// rehashCounter is a registration.Store that counts the re-hashes the domain records.
type rehashCounter struct {
	registration.Store
	rehashes atomic.Int32
}

func (s *rehashCounter) UpdateAddress(ctx context.Context, email string, fn func(*registration.Address) error) error {
	return s.Store.UpdateAddress(ctx, email, func(a *registration.Address) error {
		err := fn(a)
		for _, c := range a.Changes() {
			if _, ok := c.(registration.PasswordRehashed); ok {
				s.rehashes.Add(1)
			}
		}
		return err
	})
}

func newRehashEnv(t *testing.T) (*env, *versionedHasher, *rehashCounter) {
	t.Helper()
	e := newEnv(t, defaultPolicy)
	h := &versionedHasher{}
	h.version.Store(1)
	store := &rehashCounter{Store: e.accounts}
	svc, err := registration.NewService(context.Background(), store, h, e.keys, defaultPolicy, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e, h, store
}

func TestConcurrentLoginsRehashOnce(t *testing.T) {
	t.Parallel()
	e, h, store := newRehashEnv(t)
	ctx := context.Background()
	u := e.register(t, "rehash@example.com")
	h.version.Store(2) // the ARGON2_* settings were raised
	const logins = 2
	h.barrier.Add(logins)
	h.armed.Store(true)
	counts := parallel(logins, func(int) error {
		_, err := e.svc.Authenticate(ctx, u.Email, "correct horse battery")
		return err
	})
	if counts[nil] != logins {
		t.Fatalf("logins: %v, want %d successes", counts, logins)
	}
	if n := store.rehashes.Load(); n != 1 {
		t.Fatalf("%d re-hashes written, want 1", n)
	}
	acct, err := e.accounts.Account(ctx, u.Email)
	if err != nil || h.NeedsRehash(acct.PasswordHash) {
		t.Fatalf("stored hash %q (%v), want one made with the current parameters", acct.PasswordHash, err)
	}
	h.armed.Store(false)
	if _, err := e.svc.Authenticate(ctx, u.Email, "correct horse battery"); err != nil || store.rehashes.Load() != 1 {
		t.Fatalf("login on the new hash: %v, %d re-hashes; want success and none more", err, store.rehashes.Load()-1)
	}
}

func TestFailedRehashDoesNotFailTheLogin(t *testing.T) {
	t.Parallel()
	e, h, _ := newRehashEnv(t)
	ctx := context.Background()
	u := e.register(t, "rehash-fails@example.com")
	before, _ := e.accounts.Account(ctx, u.Email)
	h.version.Store(2)
	h.fail.Store(true)
	if _, err := e.svc.Authenticate(ctx, u.Email, "correct horse battery"); err != nil {
		t.Fatalf("login whose re-hash failed: %v, want success", err)
	}
	after, _ := e.accounts.Account(ctx, u.Email)
	if after.PasswordHash != before.PasswordHash {
		t.Fatalf("hash %q, want the old one %q kept", after.PasswordHash, before.PasswordHash)
	}
}

// The statement writes the new hash only over the one verified, whatever the caller says.
func TestRehashOverAnotherHashWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	email := "alice@example.com"
	if err := e.accounts.UpdateAddress(ctx, email, create(idA)); err != nil {
		t.Fatal(err)
	}
	err := e.accounts.UpdateAddress(ctx, email, func(a *registration.Address) error {
		a.RehashPassword("not the stored hash", "rehashed")
		return nil
	})
	acct, _ := e.accounts.Account(ctx, email)
	if err != nil || acct.PasswordHash != pendingAccount(idA, email).PasswordHash {
		t.Fatalf("hash %q (%v), want the stored one kept", acct.PasswordHash, err)
	}
}
