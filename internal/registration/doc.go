// Package registration is regapi's domain: accounts that sign up with an email address and a
// password, the 4-digit activation codes emailed to them, and the rules that govern both
// (code expiry, wrong-attempt limit, resend cooldown, daily quota per address).
//
// It knows nothing of HTTP, SQL or email providers: it depends only on the small interfaces
// declared here (Store, PasswordHasher) and on an injected clock.
package registration
