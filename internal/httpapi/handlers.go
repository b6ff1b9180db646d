package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

// userResponse is the user object of the contract.
type userResponse struct {
	ID          string              `json:"id"`
	Email       string              `json:"email"`
	Status      registration.Status `json:"status"`
	CreatedAt   string              `json:"created_at"`
	ActivatedAt *string             `json:"activated_at"`
}

func newUserResponse(u registration.User) userResponse {
	resp := userResponse{
		ID:        u.ID,
		Email:     u.Email,
		Status:    u.Status,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339),
	}
	if u.ActivatedAt != nil {
		at := u.ActivatedAt.UTC().Format(time.RFC3339)
		resp.ActivatedAt = &at
	}
	return resp
}

// endpointFunc is an account endpoint: it writes its success itself and returns its failure.
type endpointFunc func(w http.ResponseWriter, r *http.Request) error

// endpoint turns f into a handler: the one place where an endpoint's error becomes a
// problem+json response, and where its outcome (ok, or the code answered) is counted.
// Answers about an account are kept out of every cache.
func endpoint(outcomes *prometheus.CounterVec, f endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		err := f(w, r)
		if outcomes != nil {
			code := errorCode(err)
			if clientGone(r, err) {
				code = "client_closed"
			}
			outcomes.WithLabelValues(code).Inc()
		}
		if err != nil {
			respondError(w, r, err)
		}
	})
}

// handleRegister creates a pending account: 201 with the user and its Location.
func handleRegister(accounts AccountService, perIP *keyedLimiter, rt *retries) endpointFunc {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := perIP.allow("", clientIPFrom(r.Context())); err != nil {
			return err
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		lang := emailLanguage(r.Header.Values("Accept-Language")...)
		return rt.run(w, r, "", req, answerWith(http.StatusCreated, "/v1/users/me"), func(ctx context.Context) error {
			user, err := accounts.Register(ctx, req.Email, req.Password, lang)
			if err != nil {
				return err
			}
			w.Header().Set("Location", "/v1/users/me")
			writeJSON(w, r, http.StatusCreated, resultBody(user))
			return nil
		})
	}
}

// handleMe returns the authenticated user.
func handleMe(auth *authenticator) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := auth.user(r)
		if err != nil {
			return err
		}
		writeJSON(w, r, http.StatusOK, newUserResponse(user))
		return nil
	}
}

// handleActivate activates the authenticated user's account with the code in the body.
func handleActivate(accounts AccountService, auth *authenticator, rt *retries) endpointFunc {
	return action(rt, http.StatusOK, "", auth.user, func(ctx context.Context, u registration.User, req codeRequest) (any, error) {
		return accounts.Activate(ctx, u, codeField(req.Code))
	})
}

// handleResend sends the authenticated user a new code: 202 with how long it will be valid.
// The request body, if any, is ignored.
func handleResend(accounts AccountService, auth *authenticator, rt *retries) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := auth.user(r)
		if err != nil {
			return err
		}
		return rt.run(w, r, user.ID, struct{}{}, answerWith(http.StatusAccepted, ""), func(ctx context.Context) error {
			ttl, err := accounts.Resend(ctx, user)
			if err != nil {
				return err
			}
			writeJSON(w, r, http.StatusAccepted, newCodeSent(ttl))
			return nil
		})
	}
}
