package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// problemTypePrefix begins every problem's "type": a stable identifier per code, not a page to
// fetch. Clients switch on "code"; the type exists because RFC 9457 wants one.
const problemTypePrefix = "urn:regapi:problem:"

// problemContentType is the media type of every error response.
const problemContentType = "application/problem+json"

// wwwAuthenticate is the challenge every 401 carries (RFC 7617).
const wwwAuthenticate = `Basic realm="regapi", charset="UTF-8"`

// problemKind is what a code means on the wire.
type problemKind struct {
	status int
	title  string
	detail string // said when the error itself has nothing more specific
	// retry makes the response carry Retry-After, one second when the error holds no delay.
	retry bool
}

// problemKinds holds every code the API answers with; openapi.yaml lists the same codes.
var problemKinds = map[string]problemKind{
	"malformed_request":      {http.StatusBadRequest, "Malformed request", "The request body is not the JSON object this endpoint takes.", false},
	"unauthorized":           {http.StatusUnauthorized, "Unauthorized", "Valid Basic Auth credentials are required.", false},
	"not_found":              {http.StatusNotFound, "Not found", "No resource lives at this path.", false},
	"method_not_allowed":     {http.StatusMethodNotAllowed, "Method not allowed", "This path does not support the method; see the Allow header.", false},
	"origin_not_allowed":     {http.StatusForbidden, "Origin not allowed", "Pages of this origin may not call the API from a browser.", false},
	"email_taken":            {http.StatusConflict, "Email address taken", "The email address belongs to an active account or to one awaiting activation.", false},
	"already_active":         {http.StatusConflict, "Account already active", "The account is active already; it needs no activation code.", false},
	"account_pending":        {http.StatusConflict, "Account not active", "The account must be activated first.", false},
	"code_expired":           {http.StatusGone, "Code expired", "The code is no longer valid; request a new one.", false},
	"request_too_large":      {http.StatusRequestEntityTooLarge, "Request too large", "The request body exceeds 64 KiB.", false},
	"unsupported_media_type": {http.StatusUnsupportedMediaType, "Unsupported media type", "The request body must be sent as application/json.", false},
	"validation_failed":      {http.StatusUnprocessableEntity, "Validation failed", "Some fields are invalid; see errors.", false},
	"idempotency_key_reused": {http.StatusUnprocessableEntity, "Idempotency key reused", "This Idempotency-Key was used for a request with another body; use a new key for a new request.", false},
	"request_in_progress":    {http.StatusConflict, "Request in progress", "A request with this Idempotency-Key is being processed; retry after the delay in Retry-After to get its answer.", true},
	"invalid_code":           {http.StatusUnprocessableEntity, "Invalid code", "The code is wrong.", false},
	"too_many_attempts":      {http.StatusTooManyRequests, "Too many attempts", "Too many wrong codes were tried; request a new code.", false},
	"resend_cooldown":        {http.StatusTooManyRequests, "Resend cooldown", "No new code can be sent yet; see Retry-After.", true},
	"rate_limited":           {http.StatusTooManyRequests, "Rate limited", "Too many requests from this client; see Retry-After.", true},
	"internal_error":         {http.StatusInternalServerError, "Internal error", "Something went wrong on our side.", false},
	"overloaded":             {http.StatusServiceUnavailable, "Overloaded", "The service is busy; retry after the delay in Retry-After.", true},
	"not_ready":              {http.StatusServiceUnavailable, "Not ready", "A dependency of the service is unavailable.", false},
	"unavailable":            {http.StatusServiceUnavailable, "Unavailable", "The service cannot reach its database; retry after the delay in Retry-After.", true},
}

// sentinelCodes maps the domain's sentinel errors to their codes.
var sentinelCodes = []struct {
	err  error
	code string
}{
	{registration.ErrEmailTaken, "email_taken"},
	{registration.ErrUnauthorized, "unauthorized"},
	{registration.ErrAlreadyActive, "already_active"},
	{registration.ErrAccountPending, "account_pending"},
	{registration.ErrInvalidCode, "invalid_code"},
	{registration.ErrCodeExpired, "code_expired"},
	{registration.ErrTooManyAttempts, "too_many_attempts"},
	{registration.ErrResendCooldown, "resend_cooldown"},
	{registration.ErrOverloaded, "overloaded"},
	{registration.ErrUnavailable, "unavailable"},
}

// requestError is a failure the HTTP layer detects itself, with a code from problemKinds and
// an optional detail meant for the client.
type requestError struct {
	code   string
	detail string
	checks map[string]string // readiness checks, for not_ready
	err    error             // cause, for the log only
}

func (e *requestError) Error() string {
	if e.err != nil {
		return e.code + ": " + e.err.Error()
	}
	return e.code
}

func (e *requestError) Unwrap() error { return e.err }

// problem is an RFC 9457 problem details object, with regapi's extension members.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Code   string            `json:"code"`
	Errors []fieldError      `json:"errors,omitempty"`
	Checks map[string]string `json:"checks,omitempty"`
}

// fieldError names one invalid field of a validation_failed problem.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// errorCode returns the code a client sees for err; nil is "ok", for metrics.
func errorCode(err error) string {
	if err == nil {
		return "ok"
	}
	var re *requestError
	if errors.As(err, &re) {
		return re.code
	}
	var ve *registration.ValidationError
	if errors.As(err, &ve) {
		return "validation_failed"
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return "internal_error"
}

// respondError is the one place where errors become responses. Internal errors are logged
// with their text and answered with a generic one; no error text reaches the client.
func respondError(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r, err) {
		// Nobody reads this answer, and the service did not fail: no 500, no error logged.
		// The access log and the metrics show the request as 499 (client closed request).
		loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelDebug, "client went away", slog.String("error", err.Error()))
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	p := newProblem(err)
	logServerError(r, p, err)
	h := w.Header()
	if p.Code == "unauthorized" {
		h.Set("WWW-Authenticate", wwwAuthenticate)
	}
	if delay, ok := registration.RetryAfter(err); ok || problemKinds[p.Code].retry {
		h.Set("Retry-After", retryAfterSeconds(delay))
	}
	body, _ := json.Marshal(p) // a problem holds only strings, ints and maps of strings
	h.Set("Content-Type", problemContentType)
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// statusClientClosedRequest is the status recorded for a request whose client hung up before
// its answer was ready; it is never seen by a client (nginx's 499).
const statusClientClosedRequest = 499

// clientGone reports whether err ended r because its client hung up.
func clientGone(r *http.Request, err error) bool {
	return errors.Is(r.Context().Err(), context.Canceled) && errors.Is(err, context.Canceled)
}

// newProblem describes err for the client.
func newProblem(err error) problem {
	code := errorCode(err)
	kind := problemKinds[code]
	p := problem{
		Type:   problemTypePrefix + code,
		Title:  kind.title,
		Status: kind.status,
		Detail: kind.detail,
		Code:   code,
	}
	var re *requestError
	if errors.As(err, &re) {
		p.Checks = re.checks
		if re.detail != "" {
			p.Detail = re.detail
		}
	}
	var ve *registration.ValidationError
	if errors.As(err, &ve) {
		p.Errors = fieldErrors(ve)
	}
	return p
}

// logServerError logs 5xx responses: the client is told nothing, so the log must tell all.
func logServerError(r *http.Request, p problem, err error) {
	if p.Status < 500 {
		return
	}
	level := slog.LevelWarn
	if p.Code == "internal_error" {
		level = slog.LevelError
	}
	loggerFrom(r.Context()).LogAttrs(r.Context(), level, "request failed",
		slog.String("code", p.Code), slog.String("error", err.Error()))
}

// fieldErrors lists the invalid fields of ve sorted by name, so responses are stable.
func fieldErrors(ve *registration.ValidationError) []fieldError {
	out := make([]fieldError, 0, len(ve.Fields))
	for field, msg := range ve.Fields {
		out = append(out, fieldError{Field: field, Message: msg})
	}
	slices.SortFunc(out, func(a, b fieldError) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// retryAfterSeconds formats d for a Retry-After header: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(max(int64(secs), 1), 10)
}
