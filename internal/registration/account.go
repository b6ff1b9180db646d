package registration

import (
	"time"
)

// Status is the lifecycle state of a user account.
type Status string

// The two states of an account: it is created pending and becomes active with a valid code.
const (
	StatusPending Status = "pending"
	StatusActive  Status = "active"
)

// User is the public view of an account.
type User struct {
	ID          string
	Email       string
	Status      Status
	CreatedAt   time.Time
	ActivatedAt *time.Time
}

// Account is a user together with its secrets: the password hash and its live codes.
type Account struct {
	User         User
	PasswordHash string
	// Language is the language of every email to the account, chosen at registration.
	Language Language
	// Codes holds the account's live codes, at most one of each kind.
	Codes map[CodeKind]*Code
}

// Code returns the account's live code of kind, or nil.
func (a *Account) Code(kind CodeKind) *Code { return a.Codes[kind] }

// Code is an issued code as kept at rest: a keyed hash, never the digits.
type Code struct {
	Kind     CodeKind
	Hash     []byte
	IssuedAt time.Time
	// SentAt is when the email provider accepted the email carrying the code; the code's
	// lifetime starts then. Nil while the email is still on its way.
	SentAt *time.Time
	// Attempts counts wrong codes tried against this code.
	Attempts int
	// Undeliverable is set when the email carrying the code was given up on.
	Undeliverable bool
	// NewEmail is the address an email_change code was sent to, the one it proves; empty for
	// the other kinds, whose codes go to the account's own address.
	NewEmail string
}

// Address is everything kept under one email address: the account holding it, if any, and the
// codes the address was sent recently. It is the unit the Store locks and saves atomically.
//
// The Store loads Account and CodesIssued; the domain changes them only through the methods
// below, each of which records what happened as a Change, and the Store writes those changes,
// no more, once the domain's function returns.
type Address struct {
	Email string
	// Account is the account holding the address, or nil.
	Account *Account
	// CodesIssued holds when codes were issued to this address, oldest first: as loaded, then
	// as IssueCode changes it.
	CodesIssued []time.Time
	changes     []Change
}

// SealedEmail is an email to commit to the outbox. Its content is sealed (CodeKeys.Seal), so
// that the database never holds a readable code.
type SealedEmail struct {
	Kind      EmailKind
	Recipient string
	Sealed    []byte
	// KeyID names the secret that sealed it (CodeKeys.ID).
	KeyID []byte
}

// sentTo returns the address c was sent to, which its hash binds: acct's own, or the new
// address of an email_change code.
func (c *Code) sentTo(acct *Account) string {
	if c.NewEmail != "" {
		return c.NewEmail
	}
	return acct.User.Email
}

// expiresAt returns when c stops being valid under ttl, and false while its lifetime has not
// started (the email is still on its way).
func (c *Code) expiresAt(ttl time.Duration) (time.Time, bool) {
	if c.SentAt == nil {
		return time.Time{}, false
	}
	return c.SentAt.Add(ttl), true
}

// expired reports whether c can no longer be used at now: its lifetime ran out, or its email
// was given up on.
func (c *Code) expired(now time.Time, ttl time.Duration) bool {
	if c.Undeliverable {
		return true
	}
	end, started := c.expiresAt(ttl)
	return started && !now.Before(end)
}
