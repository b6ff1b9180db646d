package registration

import (
	"time"
)

// QuotaWindow is the sliding window over which MaxCodesPerDay is counted.
const QuotaWindow = 24 * time.Hour

// Policy holds the tunable rules of activation.
type Policy struct {
	// CodeTTL is how long a code is valid once its email was handed to the provider.
	CodeTTL time.Duration
	// MaxAttempts is how many wrong codes burn a code.
	MaxAttempts int
	// ResendCooldown is the minimum gap between two codes for one account.
	ResendCooldown time.Duration
	// MaxCodesPerDay is how many codes one address may be issued within QuotaWindow.
	MaxCodesPerDay int
	// Events keeps an account event with every change of an account, for the rest of the
	// product (EVENTS_WEBHOOK_URL); without it no event is written.
	Events bool
}

// holdsAddress reports whether acct keeps its address from being registered again at now:
// an active account always does, a pending one while its latest code is still valid (or still
// on its way). A pending account whose code expired, or could not be delivered, does not.
func (p Policy) holdsAddress(acct *Account, now time.Time) bool {
	if acct.User.Status == StatusActive {
		return true
	}
	c := acct.Code(CodeActivation)
	return c != nil && !c.expired(now, p.CodeTTL)
}

// checkQuota refuses a new code when the address already had MaxCodesPerDay codes within the
// quota window ending at now.
func (p Policy) checkQuota(a *Address, now time.Time) error {
	kept := recentIssues(a.CodesIssued, now)
	if len(kept) < p.MaxCodesPerDay {
		return nil
	}
	// The oldest code that still counts leaves the window first.
	oldest := kept[len(kept)-p.MaxCodesPerDay]
	return &RetryError{Err: ErrResendCooldown, After: roundUp(oldest.Add(QuotaWindow).Sub(now))}
}

// checkCooldown refuses a new code of kind while the account's latest one of that kind is
// younger than ResendCooldown.
func (p Policy) checkCooldown(acct *Account, kind CodeKind, now time.Time) error {
	c := acct.Code(kind)
	if c == nil {
		return nil
	}
	if wait := c.IssuedAt.Add(p.ResendCooldown).Sub(now); wait > 0 {
		return &RetryError{Err: ErrResendCooldown, After: roundUp(wait)}
	}
	return nil
}

// tryActivationCode applies one activation attempt with code to the account of a at now. A
// wrong code is counted on a, to be saved whatever the outcome.
func (p Policy) tryActivationCode(a *Address, code string, now time.Time, keys *CodeKeys) error {
	if a.Account.User.Status == StatusActive {
		return ErrAlreadyActive
	}
	if err := p.tryCode(a, CodeActivation, code, now, keys); err != nil {
		return err
	}
	a.Activate(now)
	return nil
}

// tryCode checks code against the live code of kind of a's account, which its owner, already
// authenticated, wants to use: a dead code says so whatever the digits, a wrong one is
// counted. It returns nil for the right code, which the caller then spends.
func (p Policy) tryCode(a *Address, kind CodeKind, code string, now time.Time, keys *CodeKeys) error {
	c := a.Account.Code(kind)
	switch {
	case c == nil || c.expired(now, p.CodeTTL):
		return ErrCodeExpired
	case c.Attempts >= p.MaxAttempts:
		return ErrTooManyAttempts
	case !keys.Matches(c.Hash, c.sentTo(a.Account), code):
		a.CountAttempt(kind)
		return ErrInvalidCode
	}
	return nil
}

// tryCodeBlind is tryCode for a caller who proved nothing but the code (a password reset):
// every wrong code, and every address without a live code of kind, is ErrInvalidCode, so that
// only the right digits learn whether the code expired or was burned. A wrong try against a
// live code is counted.
func (p Policy) tryCodeBlind(a *Address, kind CodeKind, code string, now time.Time, keys *CodeKeys) error {
	if a.Account == nil || a.Account.Code(kind) == nil {
		return ErrInvalidCode
	}
	c := a.Account.Code(kind)
	live := !c.expired(now, p.CodeTTL) && c.Attempts < p.MaxAttempts
	switch {
	case !keys.Matches(c.Hash, c.sentTo(a.Account), code):
		if live {
			a.CountAttempt(kind)
		}
		return ErrInvalidCode
	case c.expired(now, p.CodeTTL):
		return ErrCodeExpired
	case c.Attempts >= p.MaxAttempts:
		return ErrTooManyAttempts
	}
	return nil
}

// roundUp returns d rounded up to a whole second, and at least one second, as Retry-After
// headers count in seconds.
func roundUp(d time.Duration) time.Duration {
	if r := d.Truncate(time.Second); r < d {
		d = r + time.Second
	}
	return max(d, time.Second)
}
