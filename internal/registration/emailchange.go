package registration

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RequestEmailChange sends a code to newEmail, the address u's active account asks to move
// to, and returns how long the code is valid. Nothing else changes until the code comes back
// (ConfirmEmailChange). It returns a *ValidationError for a malformed address or the
// account's own, ErrAccountPending, ErrEmailTaken when newEmail holds an account, a
// RetryError wrapping ErrResendCooldown when the cooldown or newEmail's daily quota says no,
// or ErrUnauthorized when the account changed since u authenticated.
func (s *Service) RequestEmailChange(ctx context.Context, u User, newEmail string) (time.Duration, error) {
	var f fieldProblems
	newEmail = f.email("email", newEmail)
	if newEmail == u.Email {
		f.add("email", "is the account's address already")
	}
	if err := f.err(); err != nil {
		return 0, err
	}
	err := s.store.UpdateAddresses(ctx, u.Email, newEmail, func(from, to *Address) error {
		if !holds(from, u) {
			return ErrUnauthorized
		}
		acct := from.Account
		now := s.now()
		switch {
		case acct.User.Status != StatusActive:
			return ErrAccountPending
		case to.Account != nil && s.policy.holdsAddress(to.Account, now):
			return ErrEmailTaken
		}
		if err := s.policy.checkCooldown(acct, CodeEmailChange, now); err != nil {
			return err
		}
		if err := s.policy.checkQuota(to, now); err != nil {
			return err
		}
		record(ctx, from, s.policy.CodeTTL, nil)
		return s.issueCode(to, acct, CodeEmailChange, now)
	})
	if err != nil {
		return 0, fmt.Errorf("request email change: %w", err)
	}
	return s.policy.CodeTTL, nil
}

// ConfirmEmailChange moves u's account to the address its live email_change code was sent
// to, if code is that code. The old address is then free and gets a notice naming the new
// one, masked. It returns a *ValidationError for a malformed code, ErrInvalidCode (a counted
// try; also when no change was asked for), ErrCodeExpired, ErrTooManyAttempts, ErrEmailTaken
// when the new address was taken meanwhile, or ErrUnauthorized when the account changed since
// u authenticated.
func (s *Service) ConfirmEmailChange(ctx context.Context, u User, code string) (User, error) {
	var f fieldProblems
	if f.code("code", code); f.err() != nil {
		return User{}, f.err()
	}
	newEmail, err := s.askedAddress(ctx, u)
	if err != nil {
		return User{}, err
	}
	var outcome error
	var user User
	err = s.store.UpdateAddresses(ctx, u.Email, newEmail, func(from, to *Address) error {
		if !holds(from, u) {
			return ErrUnauthorized
		}
		if c := from.Account.Code(CodeEmailChange); c == nil || c.NewEmail != to.Email {
			outcome = ErrInvalidCode // asked for another address meanwhile: that code is the live one
			record(ctx, from, nil, outcome)
			return nil
		}
		now := s.now()
		if outcome = s.policy.tryCode(from, CodeEmailChange, code, now, s.keys); outcome != nil {
			record(ctx, from, nil, outcome)
			return nil // a wrong try must be saved
		}
		var err error
		user, err = s.moveAccount(ctx, from, to, now)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("confirm email change: %w", err)
	}
	return user, outcome
}

// askedAddress returns the address u's live email_change code was sent to. It is read before
// the two addresses are locked together; the locked state is checked again. It returns
// ErrInvalidCode when no change was asked for, or ErrUnauthorized when the account changed
// since u authenticated.
func (s *Service) askedAddress(ctx context.Context, u User) (string, error) {
	acct, err := s.store.Account(ctx, u.Email)
	if errors.Is(err, ErrNotFound) || (err == nil && acct.User.ID != u.ID) {
		return "", ErrUnauthorized
	}
	if err != nil {
		return "", fmt.Errorf("confirm email change: %w", err)
	}
	asked := acct.Code(CodeEmailChange)
	if asked == nil {
		return "", ErrInvalidCode
	}
	return asked.NewEmail, nil
}

// moveAccount moves the account of from to to, whose code was just proved, at now: a pending
// account at to whose code died is replaced, the old address gets a notice naming the new
// one, masked. It returns ErrEmailTaken when to holds an account that keeps it.
func (s *Service) moveAccount(ctx context.Context, from, to *Address, now time.Time) (User, error) {
	if to.Account != nil {
		if s.policy.holdsAddress(to.Account, now) {
			return User{}, ErrEmailTaken
		}
		if err := s.emit(to, EventDeleted, to.Account.User, now, nil); err != nil {
			return User{}, err
		}
		to.DeleteAccount()
	}
	to.MoveAccountHere(from)
	user := to.Account.User
	record(ctx, to, user, nil)
	previous := func(d *EventData) { d.PreviousEmail = from.Email }
	if err := s.emit(to, EventEmailChanged, user, now, previous); err != nil {
		return User{}, err
	}
	notice := Email{Kind: EmailEmailChanged, To: from.Email, NewEmail: MaskEmail(to.Email)}
	return user, s.queueNotice(from, to.Account, notice)
}
