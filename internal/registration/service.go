package registration

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Store persists addresses and accounts. Implementations own the transactions.
type Store interface {
	// UpdateAddress locks the record of the address email (creating it when new) together with
	// the account holding it, passes them to fn, and then writes the changes fn recorded on the
	// address (Address.Changes), each as the statement it names, in one transaction. An error
	// from fn rolls everything back and is returned unchanged.
	UpdateAddress(ctx context.Context, email string, fn func(*Address) error) error
	// UpdateAddresses is UpdateAddress for two distinct addresses at once, from and to, locked
	// in an order that cannot deadlock with another caller's; it writes from's changes, then
	// to's. It moves an account from one address to another.
	UpdateAddresses(ctx context.Context, from, to string, fn func(from, to *Address) error) error
	// Account returns the account holding email, or ErrNotFound.
	Account(ctx context.Context, email string) (Account, error)
}

// PasswordHasher turns passwords into self-describing hashes and checks them. Both methods may
// return ErrOverloaded when too many hashes are waiting.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, encoded, password string) (bool, error)
	// NeedsRehash reports whether encoded was made with other parameters than the current ones.
	NeedsRehash(encoded string) bool
}

// Service carries out registration, authentication, activation and code resends, and the
// flows after sign-up: password reset and change, address change and deletion.
type Service struct {
	store     Store
	hasher    PasswordHasher
	keys      *CodeKeys
	policy    Policy
	now       func() time.Time
	dummyHash string
}

// NewService returns a Service. It computes one password hash up front, spent on logins with
// an unknown email so that they take as long as those with a known one.
func NewService(ctx context.Context, store Store, hasher PasswordHasher, keys *CodeKeys, policy Policy, now func() time.Time) (*Service, error) {
	dummy, err := hasher.Hash(ctx, rand.Text())
	if err != nil {
		return nil, fmt.Errorf("prepare dummy hash: %w", err)
	}
	return &Service{store: store, hasher: hasher, keys: keys, policy: policy, now: now, dummyHash: dummy}, nil
}

// Register creates a pending account for email, whose emails are written in lang (English
// when regapi does not write in lang), and commits, with it, an email carrying a new
// activation code. It returns a *ValidationError for bad input, ErrEmailTaken, a RetryError
// wrapping ErrResendCooldown when the address's daily quota is spent, or ErrOverloaded.
func (s *Service) Register(ctx context.Context, email, password string, lang Language) (User, error) {
	email, err := validateRegistration(email, password)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var user User
	err = s.store.UpdateAddress(ctx, email, func(a *Address) error {
		now := s.now()
		if a.Account != nil && s.policy.holdsAddress(a.Account, now) {
			return ErrEmailTaken
		}
		if err := s.policy.checkQuota(a, now); err != nil {
			return err
		}
		if a.Account != nil { // replaced: the rest of the product forgets it
			if err := s.emit(a, EventDeleted, a.Account.User, now, nil); err != nil {
				return err
			}
		}
		a.CreateAccount(Account{
			User:         User{ID: newID(now), Email: email, Status: StatusPending, CreatedAt: now},
			PasswordHash: hash,
			Language:     lang.OrDefault(),
		})
		if err := s.issueCode(a, a.Account, CodeActivation, now); err != nil {
			return err
		}
		user = a.Account.User
		record(ctx, a, user, nil)
		return s.emit(a, EventCreated, user, now, nil)
	})
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	return user, nil
}

// Activate activates u's account with code. It returns a *ValidationError for a malformed
// code, ErrInvalidCode (the try is counted), ErrCodeExpired, ErrTooManyAttempts,
// ErrAlreadyActive, or ErrUnauthorized when the account was replaced since u authenticated.
func (s *Service) Activate(ctx context.Context, u User, code string) (User, error) {
	var f fieldProblems
	if f.code("code", code); f.err() != nil {
		return User{}, f.err()
	}
	var outcome error
	var user User
	err := s.store.UpdateAddress(ctx, u.Email, func(a *Address) error {
		if !holds(a, u) {
			return ErrUnauthorized
		}
		// A wrong code must be saved as an attempt, so the outcome is not fn's error.
		now := s.now()
		outcome = s.policy.tryActivationCode(a, code, now, s.keys)
		user = a.Account.User
		record(ctx, a, user, outcome)
		if outcome != nil {
			return nil
		}
		return s.emit(a, EventActivated, user, now, nil)
	})
	if err != nil {
		return User{}, fmt.Errorf("activate: %w", err)
	}
	if outcome != nil {
		return User{}, outcome
	}
	return user, nil
}

// Resend issues u a new activation code, killing every earlier one, and returns how long the
// new code will be valid. It returns ErrAlreadyActive, a RetryError wrapping ErrResendCooldown
// (cooldown or daily quota), or ErrUnauthorized when the account was replaced.
func (s *Service) Resend(ctx context.Context, u User) (time.Duration, error) {
	err := s.store.UpdateAddress(ctx, u.Email, func(a *Address) error {
		if !holds(a, u) {
			return ErrUnauthorized
		}
		if a.Account.User.Status == StatusActive {
			return ErrAlreadyActive
		}
		now := s.now()
		if err := s.policy.checkCooldown(a.Account, CodeActivation, now); err != nil {
			return err
		}
		if err := s.policy.checkQuota(a, now); err != nil {
			return err
		}
		record(ctx, a, s.policy.CodeTTL, nil)
		return s.issueCode(a, a.Account, CodeActivation, now)
	})
	if err != nil {
		return 0, fmt.Errorf("resend code: %w", err)
	}
	return s.policy.CodeTTL, nil
}

// holds reports whether a still holds u's account: it may have been replaced, moved or
// deleted since u authenticated.
func holds(a *Address, u User) bool { return a.Account != nil && a.Account.User.ID == u.ID }

// issueCode gives acct a fresh code of kind, counted against the quota of a, the address it
// is sent to (acct's own, or the one it asks to move to), with the sealed email that carries
// it, written in acct's language.
func (s *Service) issueCode(a *Address, acct *Account, kind CodeKind, now time.Time) error {
	code, err := s.keys.NewCode()
	if err != nil {
		return err
	}
	out, err := s.seal(Email{Kind: emailOfCode[kind], To: a.Email, Code: code, ValidFor: s.policy.CodeTTL,
		Lang: acct.Language})
	if err != nil {
		return err
	}
	c := Code{Kind: kind, Hash: s.keys.Hash(a.Email, code), IssuedAt: now}
	if a.Email != acct.User.Email {
		c.NewEmail = a.Email
	}
	a.IssueCode(acct, c, out)
	return nil
}

// queueNotice records e, an email without a code about acct, on a, the address that sends
// it, written in acct's language.
func (s *Service) queueNotice(a *Address, acct *Account, e Email) error {
	e.Lang = acct.Language
	out, err := s.seal(e)
	if err != nil {
		return err
	}
	a.QueueEmail(acct, out, s.now())
	return nil
}

// seal makes e ready for the outbox.
func (s *Service) seal(e Email) (SealedEmail, error) {
	sealed, err := s.keys.Seal(e)
	if err != nil {
		return SealedEmail{}, err
	}
	return SealedEmail{Kind: e.Kind, Recipient: e.To, Sealed: sealed, KeyID: s.keys.ID()}, nil
}

// newID returns a time-ordered (version 7, RFC 9562) UUID for an account created at now:
// 48 bits of Unix milliseconds, then 74 random bits. New keys land at the right edge of the
// primary key's B-tree instead of on random leaves, which keeps the pages a registration
// dirties, and the full-page images it writes to the WAL, few however large the table grows.
func newID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i)) // #nosec G115 -- keeps the low byte on purpose
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
