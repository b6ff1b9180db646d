package registration

import (
	"context"
	"fmt"
	"time"
)

// RequestPasswordReset sends a password reset code to email when the address holds an
// account, pending or active, and its cooldown and daily quota allow one; otherwise it sends
// nothing. Either way it returns how long a code is valid, so that the answer tells nothing
// about the address. It returns a *ValidationError for a malformed address, or a wrapped
// ErrUnavailable or database error.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (time.Duration, error) {
	var f fieldProblems
	email = f.email("email", email)
	if err := f.err(); err != nil {
		return 0, err
	}
	err := s.store.UpdateAddress(ctx, email, func(a *Address) error {
		record(ctx, a, s.policy.CodeTTL, nil)
		if a.Account == nil {
			return nil
		}
		now := s.now()
		if s.policy.checkCooldown(a.Account, CodePasswordReset, now) != nil || s.policy.checkQuota(a, now) != nil {
			return nil // refused in silence: a different answer would tell that the account exists
		}
		return s.issueCode(a, a.Account, CodePasswordReset, now)
	})
	if err != nil {
		return 0, fmt.Errorf("request password reset: %w", err)
	}
	return s.policy.CodeTTL, nil
}

// ResetPassword sets password as the password of the account holding email, if code is its
// live reset code: the code is spent, a pending account becomes active (the code proved the
// address), and a notice goes to the address. It returns a *ValidationError for malformed
// fields, ErrInvalidCode for a wrong code and equally for an address without an account or a
// live reset code (a wrong try against a live code is counted), and, for the right digits
// only, ErrCodeExpired or ErrTooManyAttempts; or ErrOverloaded.
func (s *Service) ResetPassword(ctx context.Context, email, code, password string) (User, error) {
	var f fieldProblems
	email = f.email("email", email)
	f.code("code", code)
	f.password("password", password)
	if err := f.err(); err != nil {
		return User{}, err
	}
	// Hashed whether or not the address holds an account, so that both take as long.
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var outcome error
	var user User
	err = s.store.UpdateAddress(ctx, email, func(a *Address) error {
		now := s.now()
		// A wrong try must be saved, so the outcome is not fn's error.
		if outcome = s.policy.tryCodeBlind(a, CodePasswordReset, code, now, s.keys); outcome != nil {
			record(ctx, a, nil, outcome)
			return nil
		}
		a.SpendCode(CodePasswordReset)
		a.ChangePassword(hash)
		if a.Account.User.Status == StatusPending {
			a.Activate(now)
			if err := s.emit(a, EventActivated, a.Account.User, now, nil); err != nil {
				return err
			}
		}
		user = a.Account.User
		record(ctx, a, user, nil)
		if err := s.emit(a, EventPasswordChanged, user, now, func(d *EventData) { d.Reason = PasswordReset }); err != nil {
			return err
		}
		return s.queueNotice(a, a.Account, Email{Kind: EmailPasswordChanged, To: a.Email})
	})
	if err != nil {
		return User{}, fmt.Errorf("reset password: %w", err)
	}
	return user, outcome
}

// ChangePassword gives u's account the new password and sends a notice to its address. It
// returns a *ValidationError for a password that breaks the rules, ErrUnauthorized when the
// account was replaced, moved or deleted since u authenticated, or ErrOverloaded.
func (s *Service) ChangePassword(ctx context.Context, u User, password string) error {
	var f fieldProblems
	if f.password("password", password); f.err() != nil {
		return f.err()
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	err = s.store.UpdateAddress(ctx, u.Email, func(a *Address) error {
		if !holds(a, u) {
			return ErrUnauthorized
		}
		a.ChangePassword(hash)
		reason := func(d *EventData) { d.Reason = PasswordChange }
		if err := s.emit(a, EventPasswordChanged, a.Account.User, s.now(), reason); err != nil {
			return err
		}
		return s.queueNotice(a, a.Account, Email{Kind: EmailPasswordChanged, To: a.Email})
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}
