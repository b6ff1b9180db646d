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
}

// holdsAddress reports whether acct keeps its address from being registered again at now:
// an active account always does, a pending one while its latest code is still valid (or still
// on its way). A pending account whose code expired, or could not be delivered, does not.
func (p Policy) holdsAddress(acct *Account, now time.Time) bool {
	if acct.User.Status == StatusActive {
		return true
	}
	return acct.Code != nil && !acct.Code.expired(now, p.CodeTTL)
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

// checkCooldown refuses a new code while the account's latest one is younger than ResendCooldown.
func (p Policy) checkCooldown(acct *Account, now time.Time) error {
	if acct.Code == nil {
		return nil
	}
	if wait := acct.Code.IssuedAt.Add(p.ResendCooldown).Sub(now); wait > 0 {
		return &RetryError{Err: ErrResendCooldown, After: roundUp(wait)}
	}
	return nil
}

// activate applies one activation attempt with code to the account of a at now. A wrong code
// is counted on a, to be saved whatever the outcome.
func (p Policy) activate(a *Address, code string, now time.Time, keys *CodeKeys) error {
	acct := a.Account
	c := acct.Code
	switch {
	case acct.User.Status == StatusActive:
		return ErrAlreadyActive
	case c == nil || c.expired(now, p.CodeTTL):
		return ErrCodeExpired
	case c.Attempts >= p.MaxAttempts:
		return ErrTooManyAttempts
	case !keys.Matches(c.Hash, acct.User.Email, code):
		a.CountAttempt()
		return ErrInvalidCode
	}
	a.Activate(now)
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
