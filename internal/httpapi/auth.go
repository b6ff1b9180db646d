package httpapi

import (
	"errors"
	"net/http"

	"github.com/regapi/regapi/internal/registration"
)

// authenticator checks the Basic Auth credentials of the /v1/users/me… endpoints, and limits
// failed attempts per client IP.
type authenticator struct {
	accounts Accounts
	failures *limiter
}

// user returns the user whose credentials r carries. It returns registration.ErrUnauthorized
// for missing, malformed or wrong credentials, rate_limited when the client failed too often,
// or whatever Authenticate returns otherwise.
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
	user, err := a.accounts.Authenticate(r.Context(), email, password)
	if !errors.Is(err, registration.ErrUnauthorized) {
		a.failures.give(ip)
	}
	return user, err
}
