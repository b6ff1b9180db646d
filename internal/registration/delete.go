package registration

import (
	"context"
	"fmt"
)

// Delete erases u's account: the account, its password hash, its codes and every email to it.
// The address's quota history stays, so that deleting and registering again does not reset
// it. It returns ErrUnauthorized when the account changed since u authenticated.
func (s *Service) Delete(ctx context.Context, u User) error {
	err := s.store.UpdateAddress(ctx, u.Email, func(a *Address) error {
		if !holds(a, u) {
			return ErrUnauthorized
		}
		u := a.Account.User
		a.DeleteAccount()
		return s.emit(a, EventDeleted, u, s.now(), nil)
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	return nil
}
