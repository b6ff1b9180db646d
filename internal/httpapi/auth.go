package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// accountFailureWindow is the time in which a client's failed Basic Auth attempts against
// one account come back: its whole allowance refills over this window.
const accountFailureWindow = 15 * time.Minute

// authenticator checks the Basic Auth credentials of the /v1/users/me… endpoints, and limits
// failed attempts per client IP and, more tightly, per account and client IP.
type authenticator struct {
	accounts AccountService
	failures *keyedLimiter
	// perAccount is keyed by account and client together, so that failures from one client
	// never throttle the account's owner elsewhere.
	perAccount *keyedLimiter
}

// user returns the user whose credentials r carries. It returns registration.ErrUnauthorized
// for missing, malformed (two Authorization headers included) or wrong credentials,
// rate_limited when the client failed too often (in all, or against this account), or
// whatever Authenticate returns otherwise.
func (a *authenticator) user(r *http.Request) (registration.User, error) {
	ip := clientIPFrom(r.Context())
	// A token is held before any password hashing, so a client that is out of attempts costs
	// nothing; only a request that fails spends it.
	settleIP, err := a.failures.hold("", ip)
	if err != nil {
		return registration.User{}, err
	}
	settleAccount := func(bool) {}
	failed := true // until the service says otherwise; a panic is a failure too
	defer func() {
		settleIP(failed)
		settleAccount(failed)
	}()
	email, password, ok := basicAuth(r)
	if !ok {
		return registration.User{}, registration.ErrUnauthorized
	}
	// What cannot name an account fails without a lookup: the per-IP limit is enough for it.
	if normalized, isAccount := registration.NormalizeEmail(email); isAccount {
		if settleAccount, err = a.perAccount.hold(normalized, ip); err != nil {
			settleAccount, failed = func(bool) {}, false // refused before any hashing: it cost nothing
			return registration.User{}, err
		}
	}
	readBodyFirst(r) // so that a client who hangs up while the hash waits is noticed
	user, err := a.accounts.Authenticate(r.Context(), email, password)
	failed = errors.Is(err, registration.ErrUnauthorized)
	return user, err
}

// basicAuth returns the credentials of r's one Authorization header. Two headers are
// malformed: a proxy that reads the first and a server that reads the last would disagree
// on who is asking. Per RFC 7617 the user-id ends at the first colon; r.BasicAuth splits
// there, so the password may contain colons.
func basicAuth(r *http.Request) (email, password string, ok bool) {
	if len(r.Header.Values("Authorization")) > 1 {
		return "", "", false
	}
	return r.BasicAuth()
}

// readBodyFirst reads r's body into memory, at most one byte past maxBodyBytes, and gives it
// back to r as its body, with any read error after it, for decodeJSON to judge as before.
//
// The server notices that a client hung up, and cancels the request's context, only once the
// handler has read the body. An activation waiting in the password hashing queue with its
// body unread would keep its place after its client gave up, and be hashed for nobody: under
// overload, that is a whole queue of wasted hashes. Reading the body first changes nothing
// the client is told, since it is still judged after the credentials.
func readBodyFirst(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var rest io.Reader = bytes.NewReader(data)
	if err != nil {
		rest = io.MultiReader(rest, failingReader{err})
	}
	r.Body = io.NopCloser(rest)
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
