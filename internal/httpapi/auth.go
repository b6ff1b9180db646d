package httpapi

import (
	"errors"
	"net/http"

	"github.com/regapi/regapi/internal/registration"
)

// authenticator checks the Basic Auth credentials of the /v1/users/me… endpoints, and limits
// failed attempts per client IP and, more tightly, per account and client IP.
type authenticator struct {
	accounts Accounts
	failures *limiter
	// perAccount is keyed by account and client together, so that failures from one client
	// never throttle the account's owner elsewhere.
	perAccount *accountLimiter
}

// user returns the user whose credentials r carries. It returns registration.ErrUnauthorized
// for missing, malformed or wrong credentials, rate_limited when the client failed too often
// (in all, or against this account), or whatever Authenticate returns otherwise.
func (a *authenticator) user(r *http.Request) (registration.User, error) {
	ip := clientIPFrom(r.Context())
	// The token is taken before any password hashing, so a client that is out of attempts
	// costs nothing; a request that does not fail gives it back.
	if err := a.failures.take(ip); err != nil {
		return registration.User{}, err
	}
	// Per RFC 7617 the user-id ends at the first colon; r.BasicAuth splits there, so the
	// password may contain colons.
	email, password, ok := r.BasicAuth()
	if !ok {
		return registration.User{}, registration.ErrUnauthorized
	}
	key, isAccount := accountKeyOf(email, ip)
	if isAccount {
		if err := a.perAccount.take(key); err != nil {
			a.failures.give(ip) // refused before any hashing: it cost nothing
			return registration.User{}, err
		}
	}
	readBodyFirst(r) // so that a client who hangs up while the hash waits is noticed
	user, err := a.accounts.Authenticate(r.Context(), email, password)
	if !errors.Is(err, registration.ErrUnauthorized) {
		a.failures.give(ip)
		if isAccount {
			a.perAccount.give(key)
		}
	}
	return user, err
}
