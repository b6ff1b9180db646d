package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// codeSent is the answer to a request that sends a code: how long the code will be valid.
type codeSent struct {
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
}

func newCodeSent(ttl time.Duration) codeSent {
	return codeSent{ExpiresInSeconds: int64(ttl / time.Second)}
}

// resultBody is what a Service method's result is answered as: the user object for a User,
// {"expires_in_seconds": …} for how long a new code is valid.
func resultBody(result any) any {
	switch v := result.(type) {
	case registration.User:
		return newUserResponse(v)
	case time.Duration:
		return newCodeSent(v)
	}
	return result
}

// action is an endpoint that changes something: it decodes a Req from the body and answers
// status with what do returns (see resultBody), do's effect and its answer committing
// together under the request's Idempotency-Key (retries.run). scope runs first: it checks
// who asks (the credentials, or a rate limit for an endpoint without Basic Auth) and returns
// the user, if any, whose id scopes the key.
func action[Req any](rt *retries, status int, location string,
	scope func(r *http.Request) (registration.User, error),
	do func(ctx context.Context, u registration.User, req Req) (any, error)) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := scope(r)
		if err != nil {
			return err
		}
		var req Req
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		return rt.run(w, r, user.ID, req, answerWith(status, location), func(ctx context.Context) error {
			result, err := do(ctx, user, req)
			if err != nil {
				return err
			}
			if location != "" {
				w.Header().Set("Location", location)
			}
			writeJSON(w, r, status, resultBody(result))
			return nil
		})
	}
}

// codeRequest is the body of the endpoints that take a code.
type codeRequest struct {
	Code json.RawMessage `json:"code"`
}

// codeField reads a code sent as a JSON string. It is decoded raw, so that a code of the
// wrong type (a number loses its leading zeros) is a validation failure of the field rather
// than a malformed body: anything but a string becomes "", which the domain refuses as it
// refuses any non-code.
func codeField(raw json.RawMessage) string {
	var code string
	if json.Unmarshal(raw, &code) != nil {
		return ""
	}
	return code
}

// handleRequestPasswordReset sends a reset code to the address if it holds an account: 202
// with how long a code is valid, whatever the address.
func handleRequestPasswordReset(accounts AccountService, perIP *keyedLimiter, rt *retries) endpointFunc {
	type request struct {
		Email string `json:"email"`
	}
	limited := func(r *http.Request) (registration.User, error) {
		return registration.User{}, perIP.allow("password-reset", clientIPFrom(r.Context()))
	}
	return action(rt, http.StatusAccepted, "", limited, func(ctx context.Context, _ registration.User, req request) (any, error) {
		return accounts.RequestPasswordReset(ctx, req.Email)
	})
}

// handleConfirmPasswordReset sets a new password with a reset code: 200 with the user. A
// wrong code spends one of the client IP's failed attempts, the budget Basic Auth failures
// draw on too.
func handleConfirmPasswordReset(accounts AccountService, failures *keyedLimiter, rt *retries) endpointFunc {
	type request struct {
		Email    string          `json:"email"`
		Code     json.RawMessage `json:"code"`
		Password string          `json:"password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		// Held before any hashing, so that a client out of attempts costs nothing.
		settle, err := failures.hold("", clientIPFrom(r.Context()))
		if err != nil {
			return err
		}
		failed := true // until the service says otherwise; a panic is a failure too
		defer func() { settle(failed) }()
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			failed = false
			return err
		}
		err = rt.run(w, r, "", req, answerWith(http.StatusOK, ""), func(ctx context.Context) error {
			user, err := accounts.ResetPassword(ctx, req.Email, codeField(req.Code), req.Password)
			if err != nil {
				return err
			}
			writeJSON(w, r, http.StatusOK, newUserResponse(user))
			return nil
		})
		failed = errors.Is(err, registration.ErrInvalidCode)
		return err
	}
}

// handleChangePassword replaces the authenticated user's password: 204.
func handleChangePassword(accounts AccountService, auth *authenticator) endpointFunc {
	type request struct {
		Password string `json:"password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := auth.user(r)
		if err != nil {
			return err
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		if err := accounts.ChangePassword(r.Context(), user, req.Password); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleRequestEmailChange sends a code to the address the authenticated user wants to move
// to: 202 with how long it is valid.
func handleRequestEmailChange(accounts AccountService, auth *authenticator, rt *retries) endpointFunc {
	type request struct {
		Email string `json:"email"`
	}
	return action(rt, http.StatusAccepted, "", auth.user, func(ctx context.Context, u registration.User, req request) (any, error) {
		return accounts.RequestEmailChange(ctx, u, req.Email)
	})
}

// handleConfirmEmailChange moves the authenticated user's account to the new address with
// the code sent there: 200 with the user.
func handleConfirmEmailChange(accounts AccountService, auth *authenticator, rt *retries) endpointFunc {
	return action(rt, http.StatusOK, "", auth.user, func(ctx context.Context, u registration.User, req codeRequest) (any, error) {
		return accounts.ConfirmEmailChange(ctx, u, codeField(req.Code))
	})
}

// handleDelete erases the authenticated user's account: 204. A body, if any, is ignored.
func handleDelete(accounts AccountService, auth *authenticator) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := auth.user(r)
		if err != nil {
			return err
		}
		if err := accounts.Delete(r.Context(), user); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
