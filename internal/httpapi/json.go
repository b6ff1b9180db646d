package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxBodyBytes bounds a request body, with room to spare: the largest legitimate one is a
// registration, an address and a password of at most registration.MaxPasswordBytes bytes.
const maxBodyBytes = 64 << 10

// decodeJSON reads r's body, which must be exactly one JSON object that fits dst, into dst.
// It returns a *requestError: unsupported_media_type, request_too_large or malformed_request
// (also for a body that is not valid UTF-8, as RFC 8259 requires JSON to be, and for one
// that gives a member twice).
// Missing fields are left zero for the domain's validation to name.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return &requestError{code: "unsupported_media_type"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &requestError{code: "request_too_large"}
		}
		return &requestError{code: "malformed_request", detail: "The request body could not be read.", err: err}
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD, silently changing a password.
	if !utf8.Valid(body) {
		return malformed("The request body is not valid UTF-8.")
	}
	// Only an object can fit a request type: null and arrays would otherwise decode silently
	// (null) or with a confusing message.
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return malformed("The request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return malformed(describeDecodeError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("The request body must hold a single JSON object and nothing after it.")
	}
	if hasDuplicateMember(body) {
		return malformed("A member appears twice in the request body; give each once.")
	}
	return nil
}

// isJSON reports whether contentType is application/json, with no charset but UTF-8.
func isJSON(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return false
	}
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}

func malformed(detail string) *requestError {
	return &requestError{code: "malformed_request", detail: detail}
}

// describeDecodeError words a decoding error for the client. It says where the body is wrong
// but never echoes its values, which may be secrets.
func describeDecodeError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("Field %q must be a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The request body ends in the middle of a JSON value."
	}
	// encoding/json has no error type for an unknown field, and its message is not an API.
	return "The request body has a field this endpoint does not take, or the wrong shape."
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "number"
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		respondError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// hasDuplicateMember reports whether some object in body, a valid JSON text, gives a member
// name twice. encoding/json keeps the last one silently, where a proxy or a firewall in front
// may read the first: the two would judge different requests. Names count as the same when
// encoding/json would match both to one field, that is regardless of case.
func hasDuplicateMember(body []byte) bool {
	type frame struct {
		wantKey bool            // the next token is a member name
		seen    map[string]bool // nil for an array
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false // the body was judged valid already; nothing more to find
		}
		d, isDelim := tok.(json.Delim)
		switch top := len(stack) - 1; {
		case isDelim && (d == '{' || d == '['):
			f := frame{}
			if d == '{' {
				f = frame{wantKey: true, seen: map[string]bool{}}
			}
			stack = append(stack, f)
			continue
		case isDelim:
			stack = stack[:top]
		case top >= 0 && stack[top].wantKey:
			name := foldName(tok.(string))
			if stack[top].seen[name] {
				return true
			}
			stack[top].seen[name], stack[top].wantKey = true, false
			continue
		}
		// A value has ended: in an object, a name comes next.
		if top := len(stack) - 1; top >= 0 && stack[top].seen != nil {
			stack[top].wantKey = true
		}
	}
}

// foldName folds a member name as encoding/json does when it matches names to fields: ASCII
// letters to upper case, any other rune to the smallest rune of its case-folding orbit (so
// the Kelvin sign is K).
func foldName(name string) string {
	out := make([]byte, 0, len(name))
	for _, r := range name {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r)) // #nosec G115 -- r < utf8.RuneSelf fits a byte
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return string(out)
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
