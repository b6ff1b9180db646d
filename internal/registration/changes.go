package registration

import (
	"slices"
	"time"
)

// Change is one thing the domain decided happened to an address. The Store writes each change
// as its own statement, in the order recorded; the types in this file are all there are.
type Change interface{ change() }

// AccountCreated: Account, new and without a code, now holds the address. Replaced, when not
// empty, is the ID of the account it replaces, which goes with its code.
type AccountCreated struct {
	Account  Account
	Replaced string
}

// CodeIssued: Code is now the only valid code of account UserID, and Email, which carries it,
// is to be sent; the code's lifetime starts when the provider accepts that email. History is
// the address's issue history with this code counted, cut to the quota window.
type CodeIssued struct {
	UserID  string
	Code    Code
	Email   OutgoingEmail
	History []time.Time
}

// AttemptCounted: a wrong code was tried against account UserID's current code, which has now
// seen Attempts wrong tries.
type AttemptCounted struct {
	UserID   string
	Attempts int
}

// Activated: account UserID became active at At; it needs no code any more.
type Activated struct {
	UserID string
	At     time.Time
}

// PasswordRehashed: account UserID's password hash Old, just verified, is replaced by New, the
// same password hashed with the current parameters. It applies only while the stored hash is
// still Old, so that a password changed meanwhile is never overwritten.
type PasswordRehashed struct {
	UserID   string
	Old, New string
}

func (AccountCreated) change()   {}
func (CodeIssued) change()       {}
func (AttemptCounted) change()   {}
func (Activated) change()        {}
func (PasswordRehashed) change() {}

// Changes returns what the domain changed on a since it was loaded, in order.
func (a *Address) Changes() []Change { return slices.Clone(a.changes) }

// CreateAccount puts acct, without a code, under the address, replacing the account it held.
func (a *Address) CreateAccount(acct Account) {
	acct.Code = nil
	c := AccountCreated{Account: acct}
	if a.Account != nil {
		c.Replaced = a.Account.User.ID
	}
	a.Account = &acct
	a.changes = append(a.changes, c)
}

// IssueCode makes c the current code of the address's account, to be sent with out, and counts
// it in the address's issue history, from which it drops what left the quota window. The
// address must hold an account.
func (a *Address) IssueCode(c Code, out OutgoingEmail) {
	history := append(recentIssues(a.CodesIssued, c.IssuedAt), c.IssuedAt)
	a.CodesIssued = history
	a.Account.Code = &c
	a.changes = append(a.changes, CodeIssued{UserID: a.Account.User.ID, Code: c, Email: out, History: slices.Clone(history)})
}

// CountAttempt counts one wrong try against the current code of the address's account.
func (a *Address) CountAttempt() {
	c := a.Account.Code
	c.Attempts++
	a.changes = append(a.changes, AttemptCounted{UserID: a.Account.User.ID, Attempts: c.Attempts})
}

// Activate makes the address's account active at at and drops its code.
func (a *Address) Activate(at time.Time) {
	u := &a.Account.User
	u.Status, u.ActivatedAt = StatusActive, &at
	a.Account.Code = nil
	a.changes = append(a.changes, Activated{UserID: u.ID, At: at})
}

// RehashPassword replaces verified, the password hash of the address's account, by rehashed.
func (a *Address) RehashPassword(verified, rehashed string) {
	a.Account.PasswordHash = rehashed
	a.changes = append(a.changes, PasswordRehashed{UserID: a.Account.User.ID, Old: verified, New: rehashed})
}

// recentIssues returns the issue times of issued that still count towards the quota at now,
// in a new slice.
func recentIssues(issued []time.Time, now time.Time) []time.Time {
	cutoff := now.Add(-QuotaWindow)
	var kept []time.Time
	for _, t := range issued {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	return kept
}
