package registration

import (
	"context"
	"errors"
	"fmt"
)

// Authenticate returns the user whose email and password these are, or ErrUnauthorized. An
// unknown email costs one password hash as well, so timing does not tell whether it exists.
// A stored hash made with older parameters is replaced by one made with the current ones;
// that costs one more hash on this successful login, and its failure does not fail the login.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	if len(password) > MaxPasswordBytes {
		return User{}, ErrUnauthorized // no stored password can be this long
	}
	acct, err := s.lookup(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	encoded := s.dummyHash
	if err == nil {
		encoded = acct.PasswordHash
	}
	ok, verr := s.hasher.Verify(ctx, encoded, password)
	if verr != nil {
		return User{}, fmt.Errorf("verify password: %w", verr)
	}
	if err != nil || !ok {
		return User{}, ErrUnauthorized
	}
	if s.hasher.NeedsRehash(acct.PasswordHash) {
		_ = s.rehash(ctx, acct, password) // the old hash still verifies: try again next login
	}
	return acct.User, nil
}

func (s *Service) lookup(ctx context.Context, email string) (Account, error) {
	email, ok := NormalizeEmail(email)
	if !ok {
		return Account{}, ErrNotFound
	}
	acct, err := s.store.Account(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, fmt.Errorf("load account: %w", err)
	}
	return acct, err
}

// rehash stores password, just verified against acct's hash, hashed with the current
// parameters. The hash is computed before the address is locked, and written only while the
// stored hash is still the one verified: when two logins race, or the account was replaced
// meanwhile, the later one finds another hash and writes nothing.
func (s *Service) rehash(ctx context.Context, acct Account, password string) error {
	rehashed, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("rehash password: %w", err)
	}
	err = s.store.UpdateAddress(ctx, acct.User.Email, func(a *Address) error {
		if a.Account != nil && a.Account.User.ID == acct.User.ID && a.Account.PasswordHash == acct.PasswordHash {
			a.RehashPassword(acct.PasswordHash, rehashed)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rehash password: %w", err)
	}
	return nil
}
