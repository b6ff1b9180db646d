package main

import (
	"net/http"
	"strings"
	"testing"
)

// Passwords as two systems may type them: the NFC form composes "é" and "ë" into one code
// point each, the NFD form spells them as a letter and a combining mark.
const (
	passwordNFC = "Caf\u00e9-No\u00ebl-2024"
	passwordNFD = "Cafe\u0301-Noe\u0308l-2024"
)

func TestPasswordsMatchInAnyNormalisationForm(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	tests := []struct {
		name, registered, typed string
	}{
		{"registered in NFC, typed in NFD", passwordNFC, passwordNFD},
		{"registered in NFD, typed in NFC", passwordNFD, passwordNFC},
		{"registered with fullwidth digits, typed in ASCII", "password\uff11\uff12\uff13", "password123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("unicode")
			a.register(t, email, tt.registered).want(t, http.StatusCreated, "")
			a.do(t, http.MethodGet, "/v1/users/me", "", email, tt.typed).want(t, http.StatusOK, "")
			a.do(t, http.MethodGet, "/v1/users/me", "", email, tt.registered).want(t, http.StatusOK, "")
		})
	}
	// Normalisation composes; it does not strip accents.
	email := uniqueEmail("accents")
	a.register(t, email, passwordNFC).want(t, http.StatusCreated, "")
	a.do(t, http.MethodGet, "/v1/users/me", "", email, "Cafe-Noel-2024").want(t, http.StatusUnauthorized, "unauthorized")
}

func TestPasswordLengthUnderNormalisation(t *testing.T) {
	t.Parallel()
	a := startApp(t, baseEnv(t))
	// Seven characters, given in NFD as fourteen code points, are seven characters.
	r := a.register(t, uniqueEmail("short"), strings.Repeat("e\u0301", 7))
	r.want(t, http.StatusUnprocessableEntity, "validation_failed")
	wantFieldError(t, r, "password")
	a.register(t, uniqueEmail("eight"), strings.Repeat("e\u0301", 8)).want(t, http.StatusCreated, "")
	// Three ligatures are three characters as sent (the OpenAPI minLength), nine once normalised.
	r = a.register(t, uniqueEmail("ligatures"), "\ufb03\ufb03\ufb03")
	r.want(t, http.StatusUnprocessableEntity, "validation_failed")
	wantFieldError(t, r, "password")
	// The byte limit is on what was sent, before normalisation shrinks it.
	r = a.register(t, uniqueEmail("long"), strings.Repeat("e\u0301", 342)) // 1026 bytes, 684 in NFC
	r.want(t, http.StatusUnprocessableEntity, "validation_failed")
	wantFieldError(t, r, "password")
}

// wantFieldError fails t unless r's problem names field, and only it.
func wantFieldError(t *testing.T, r response, field string) {
	t.Helper()
	errs, _ := r.body["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one for %s; body %s", r.body["errors"], field, r.raw)
	}
	if e, _ := errs[0].(map[string]any); e["field"] != field || e["message"] == "" {
		t.Fatalf("error %v, want one naming %s with a message", errs[0], field)
	}
}
