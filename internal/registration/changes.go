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

// CodeIssued: Code is now the only live code of its kind of account UserID, and Email, which
// carries it, is to be sent; the code's lifetime starts when the provider accepts that email.
// History is the issue history of the address the change was recorded on (the recipient),
// with this code counted, cut to the quota window.
type CodeIssued struct {
	UserID  string
	Code    Code
	Email   SealedEmail
	History []time.Time
}

// AttemptCounted: a wrong code was tried against account UserID's live code of Kind, which
// has now seen Attempts wrong tries.
type AttemptCounted struct {
	UserID   string
	Kind     CodeKind
	Attempts int
}

// CodeSpent: account UserID's code of Kind was used; it is gone.
type CodeSpent struct {
	UserID string
	Kind   CodeKind
}

// Activated: account UserID became active at At; it needs no activation code any more.
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

// PasswordChanged: account UserID has a new password, whose hash is Hash.
type PasswordChanged struct {
	UserID string
	Hash   string
}

// EmailChanged: account UserID moved from address Old to New, the address the change was
// recorded on. Its codes, all made for the old address, are gone.
type EmailChanged struct {
	UserID   string
	Old, New string
}

// AccountDeleted: account UserID is gone, with its codes and every email to it.
type AccountDeleted struct {
	UserID string
}

// EmailQueued: Email, which carries no code, is to be sent about account UserID, as of At.
type EmailQueued struct {
	UserID string
	Email  SealedEmail
	At     time.Time
}

func (AccountCreated) change()   {}
func (CodeIssued) change()       {}
func (AttemptCounted) change()   {}
func (CodeSpent) change()        {}
func (Activated) change()        {}
func (PasswordRehashed) change() {}
func (PasswordChanged) change()  {}
func (EmailChanged) change()     {}
func (AccountDeleted) change()   {}
func (EmailQueued) change()      {}

// Changes returns what the domain changed on a since it was loaded, in order.
func (a *Address) Changes() []Change { return slices.Clone(a.changes) }

// CreateAccount puts acct, without codes, under the address, replacing the account it held.
func (a *Address) CreateAccount(acct Account) {
	acct.Codes = nil
	c := AccountCreated{Account: acct}
	if a.Account != nil {
		c.Replaced = a.Account.User.ID
	}
	a.Account = &acct
	a.changes = append(a.changes, c)
}

// IssueCode makes c the live code of its kind of acct, to be sent with out to this address,
// and counts it in the address's issue history, from which it drops what left the quota
// window. acct is the address's own account, or (for an address change) the account that
// asks to move here.
func (a *Address) IssueCode(acct *Account, c Code, out SealedEmail) {
	history := append(recentIssues(a.CodesIssued, c.IssuedAt), c.IssuedAt)
	a.CodesIssued = history
	if acct.Codes == nil {
		acct.Codes = map[CodeKind]*Code{}
	}
	acct.Codes[c.Kind] = &c
	a.changes = append(a.changes, CodeIssued{UserID: acct.User.ID, Code: c, Email: out, History: slices.Clone(history)})
}

// CountAttempt counts one wrong try against the live code of kind of the address's account.
func (a *Address) CountAttempt(kind CodeKind) {
	c := a.Account.Code(kind)
	c.Attempts++
	a.changes = append(a.changes, AttemptCounted{UserID: a.Account.User.ID, Kind: kind, Attempts: c.Attempts})
}

// SpendCode removes the code of kind of the address's account, which was just used.
func (a *Address) SpendCode(kind CodeKind) {
	delete(a.Account.Codes, kind)
	a.changes = append(a.changes, CodeSpent{UserID: a.Account.User.ID, Kind: kind})
}

// Activate makes the address's account active at at and drops its activation code.
func (a *Address) Activate(at time.Time) {
	u := &a.Account.User
	u.Status, u.ActivatedAt = StatusActive, &at
	delete(a.Account.Codes, CodeActivation)
	a.changes = append(a.changes, Activated{UserID: u.ID, At: at})
}

// RehashPassword replaces verified, the password hash of the address's account, by rehashed.
func (a *Address) RehashPassword(verified, rehashed string) {
	a.Account.PasswordHash = rehashed
	a.changes = append(a.changes, PasswordRehashed{UserID: a.Account.User.ID, Old: verified, New: rehashed})
}

// ChangePassword gives the address's account the password whose hash is hash.
func (a *Address) ChangePassword(hash string) {
	a.Account.PasswordHash = hash
	a.changes = append(a.changes, PasswordChanged{UserID: a.Account.User.ID, Hash: hash})
}

// MoveAccountHere moves the account of from to this address, which must hold none. The
// account's codes, all made for its old address, are gone.
func (a *Address) MoveAccountHere(from *Address) {
	acct := from.Account
	from.Account = nil
	acct.User.Email = a.Email
	acct.Codes = nil
	a.Account = acct
	a.changes = append(a.changes, EmailChanged{UserID: acct.User.ID, Old: from.Email, New: a.Email})
}

// DeleteAccount removes the address's account, its codes and every email to it.
func (a *Address) DeleteAccount() {
	id := a.Account.User.ID
	a.Account = nil
	a.changes = append(a.changes, AccountDeleted{UserID: id})
}

// QueueEmail records out, an email without a code about acct, to be sent as of at.
func (a *Address) QueueEmail(acct *Account, out SealedEmail, at time.Time) {
	a.changes = append(a.changes, EmailQueued{UserID: acct.User.ID, Email: out, At: at})
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
