package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// IdempotencyStore keeps the records of requests sent with an Idempotency-Key;
// *postgres.IdempotencyKeys implements it. The answer of a record is written by the request's
// effect itself (registration.Receipt), in the same transaction.
type IdempotencyStore interface {
	// Reserve reserves the record of a request for hold, or returns the record another
	// attempt holds (answer nil) or answered.
	Reserve(ctx context.Context, scope, endpoint, key string, requestHash []byte, hold time.Duration) (reserved bool, storedHash, answer []byte, err error)
	// Release gives up the reservation of a request that took no effect.
	Release(ctx context.Context, scope, endpoint, key string) error
}

// RetrySafely makes every POST honour the Idempotency-Key header, keeping its records in
// store. A request's body is kept only as an HMAC under digestKey: a record never holds a
// password a fast hash would give away.
func RetrySafely(store IdempotencyStore, digestKey []byte) Option {
	return func(o *options) { o.retries = &retries{store: store, digestKey: digestKey} }
}

// reservationHold is how long a request holds its record while it is processed; past it, the
// holder counts as gone (its process died) and a retry takes the record over.
const reservationHold = 15 * time.Second

// maxIdempotencyKey is the longest key accepted (the IETF draft's field; ours to bound).
const maxIdempotencyKey = 255

// retries runs the effects of POST requests under their Idempotency-Key. A nil *retries
// ignores the header.
type retries struct {
	store     IdempotencyStore
	digestKey []byte
}

// recorded is a recorded answer: what the request that took effect was answered.
type recorded struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body"`
}

// answerWith returns how a request's answer is recorded: status (and Location, if any) with
// the user or the code's validity for a result, the problem for an outcome that was saved.
// It writes the same bytes the handler writes.
func answerWith(status int, location string) func(result any, err error) []byte {
	return func(result any, err error) []byte {
		a := recorded{Status: status, ContentType: "application/json", Location: location}
		a.Body, _ = json.Marshal(resultBody(result))
		if err != nil {
			p := newProblem(err)
			a = recorded{Status: p.Status, ContentType: problemContentType}
			a.Body, _ = json.Marshal(p)
		}
		a.Body = append(a.Body, '\n')
		out, _ := json.Marshal(a) // strings, an int and bytes
		return out
	}
}

// run runs effect, the part of a POST handler that changes something, for the client scope
// (an account id, or "" without Basic Auth). request is the decoded body, which identifies
// the request beside its key; answer records the answer with the effect. Without an
// Idempotency-Key header, effect just runs. With one, a request answered before is answered
// again from its record (Idempotent-Replayed: true), the same key with another body is
// idempotency_key_reused, a repeat while the first is processed is request_in_progress, and a
// request that took no effect leaves no record. It returns a *requestError for a malformed
// key, effect's error otherwise.
func (rt *retries) run(w http.ResponseWriter, r *http.Request, scope string, request any,
	answer func(result any, err error) []byte, effect func(ctx context.Context) error) error {
	key, present, err := idempotencyKey(r)
	if err != nil || !present || rt == nil {
		if err != nil {
			return err
		}
		return effect(r.Context())
	}
	digest := rt.digest(request)
	endpoint := r.Pattern // "POST /v1/users": the route, whatever the path's spelling
	reserved, storedHash, stored, err := rt.store.Reserve(r.Context(), scope, endpoint, key, digest, reservationHold)
	switch {
	case err != nil:
		return err
	case !reserved && storedHash != nil && !hmac.Equal(storedHash, digest):
		return &requestError{code: "idempotency_key_reused"}
	case !reserved && stored != nil:
		return replay(w, r, stored)
	case !reserved: // held by another attempt, or released by it a moment ago: try again
		return &requestError{code: "request_in_progress"}
	}
	ctx := registration.WithReceipt(r.Context(), &registration.Receipt{Scope: scope, Endpoint: endpoint, Key: key, Answer: answer})
	effectErr := effect(ctx)
	// A request that took no effect lets a retry be processed anew; one that did keeps its
	// answer, which this does not touch.
	if err := rt.store.Release(context.WithoutCancel(r.Context()), scope, endpoint, key); err != nil && effectErr == nil {
		loggerFrom(r.Context()).Warn("releasing an idempotency key failed; it lapses by itself", "error", err.Error())
	}
	if errors.Is(effectErr, registration.ErrRequestAnswered) {
		return &requestError{code: "request_in_progress", err: effectErr}
	}
	return effectErr
}

// digest identifies a request's content, keyed, so that a record reveals nothing of it.
func (rt *retries) digest(request any) []byte {
	body, _ := json.Marshal(request) // request types hold strings and raw JSON
	mac := hmac.New(sha256.New, rt.digestKey)
	mac.Write(body)
	return mac.Sum(nil)
}

// replay writes a recorded answer again, marked as such.
func replay(w http.ResponseWriter, r *http.Request, stored []byte) error {
	var a recorded
	if err := json.Unmarshal(stored, &a); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Idempotent-Replayed", "true")
	h.Set("Content-Type", a.ContentType)
	if a.Location != "" {
		h.Set("Location", a.Location)
	}
	w.WriteHeader(a.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.Body)
	}
	return nil
}

// idempotencyKey returns r's Idempotency-Key, 1 to 255 visible ASCII characters, and whether
// it has one; two headers, or a key of another shape, are malformed_request.
func idempotencyKey(r *http.Request) (string, bool, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", false, nil
	}
	malformed := &requestError{code: "malformed_request",
		detail: "Idempotency-Key must be one header of 1 to 255 visible ASCII characters."}
	if len(values) > 1 || len(values[0]) == 0 || len(values[0]) > maxIdempotencyKey {
		return "", false, malformed
	}
	for i := 0; i < len(values[0]); i++ {
		if c := values[0][i]; c < 0x21 || c > 0x7e {
			return "", false, malformed
		}
	}
	return values[0], true, nil
}
