package httpapi

import (
	"encoding/json"
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

// handleRegister creates a pending account: 201 with the user and its Location.
func handleRegister(accounts Accounts, perIP *limiter, outcomes *prometheus.CounterVec) http.Handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	register := func(w http.ResponseWriter, r *http.Request) (registration.User, error) {
		if err := perIP.take(clientIPFrom(r.Context())); err != nil {
			return registration.User{}, err
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			return registration.User{}, err
		}
		return accounts.Register(r.Context(), req.Email, req.Password)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := register(w, r)
		outcomes.WithLabelValues(errorCode(err)).Inc()
		if err != nil {
			respondError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/users/me")
		writeJSON(w, r, http.StatusCreated, newUserResponse(user))
	})
}

// handleMe returns the authenticated user.
func handleMe(auth *authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := auth.user(r)
		if err != nil {
			respondError(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusOK, newUserResponse(user))
	})
}

// handleActivate activates the authenticated user's account with the code in the body.
func handleActivate(accounts Accounts, auth *authenticator, outcomes *prometheus.CounterVec) http.Handler {
	type request struct {
		// Raw, so that a code of the wrong type (a number loses its leading zeros) is a
		// validation failure of the field rather than a malformed body.
		Code json.RawMessage `json:"code"`
	}
	activate := func(w http.ResponseWriter, r *http.Request) (registration.User, error) {
		user, err := auth.user(r)
		if err != nil {
			return user, err
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			return registration.User{}, err
		}
		var code string
		if json.Unmarshal(req.Code, &code) != nil {
			code = "" // not a string: the domain refuses it as it refuses any non-code
		}
		return accounts.Activate(r.Context(), user, code)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := activate(w, r)
		outcomes.WithLabelValues(errorCode(err)).Inc()
		if err != nil {
			respondError(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusOK, newUserResponse(user))
	})
}

// handleResend sends the authenticated user a new code: 202 with how long it will be valid.
// The request body, if any, is ignored.
func handleResend(accounts Accounts, auth *authenticator, outcomes *prometheus.CounterVec) http.Handler {
	type response struct {
		ExpiresInSeconds int64 `json:"expires_in_seconds"`
	}
	resend := func(r *http.Request) (time.Duration, error) {
		user, err := auth.user(r)
		if err != nil {
			return 0, err
		}
		return accounts.Resend(r.Context(), user)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ttl, err := resend(r)
		outcomes.WithLabelValues(errorCode(err)).Inc()
		if err != nil {
			respondError(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusAccepted, response{ExpiresInSeconds: int64(ttl / time.Second)})
	})
}

// noStore keeps authenticated answers and their errors out of every cache.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
