package outbox_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// standaloneNumber finds runs of exactly four digits, not part of a longer number.
var standaloneNumber = regexp.MustCompile(`\d+`)

func fourDigitNumbers(s string) []string {
	var found []string
	for _, n := range standaloneNumber.FindAllString(s, -1) {
		if len(n) == 4 {
			found = append(found, n)
		}
	}
	return found
}

func TestRenderActivationText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		validFor time.Duration
		want     string
	}{
		{time.Second, "valid for 1 second."},
		{45 * time.Second, "valid for 45 seconds."},
		{60 * time.Second, "valid for 1 minute."},
		{90 * time.Second, "valid for 90 seconds."},
		{2 * time.Minute, "valid for 2 minutes."},
		{1500 * time.Millisecond, "valid for 1 second."},
		{1000 * time.Second, "valid for 1,000 seconds."},
		{time.Hour, "valid for 1 hour."},
		{36 * time.Hour, "valid for 36 hours."},
		{48 * time.Hour, "valid for 2 days."},
		{1234 * time.Minute, "valid for 1,234 minutes."},
	}
	for _, tt := range tests {
		t.Run(tt.validFor.String(), func(t *testing.T) {
			t.Parallel()
			e := registration.Email{Kind: registration.EmailActivationCode, To: "bob2024@example.com", Code: "0427", ValidFor: tt.validFor}
			m, err := outbox.Builtin().Render("no-reply@regapi.local", e)
			if err != nil {
				t.Fatalf("RenderActivation: %v", err)
			}
			if !strings.Contains(m.Text, tt.want) {
				t.Errorf("text does not say %q:\n%s", tt.want, m.Text)
			}
			if got := fourDigitNumbers(m.Text); len(got) != 1 || got[0] != "0427" {
				t.Errorf("4-digit numbers in text = %q, want only the code:\n%s", got, m.Text)
			}
			if !strings.Contains(m.Text, "clock starts when this email is sent") {
				t.Errorf("text does not say when the clock starts:\n%s", m.Text)
			}
			if m.From != "no-reply@regapi.local" || m.To != e.To || m.Subject != "Your regapi activation code" {
				t.Errorf("envelope = %q %q %q", m.From, m.To, m.Subject)
			}
			if m.Code != "0427" || m.ValidFor != tt.validFor {
				t.Errorf("fields Code %q, ValidFor %s; want 0427, %s", m.Code, m.ValidFor, tt.validFor)
			}
			if !strings.Contains(m.HTML, "0427") || !strings.Contains(m.HTML, tt.want) {
				t.Errorf("HTML lacks the code or validity:\n%s", m.HTML)
			}
		})
	}
}

func TestRenderActivationCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"0000", "0001", "1999", "2025", "9999"} {
		e := registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: code, ValidFor: time.Minute}
		m, err := outbox.Builtin().Render("no-reply@regapi.local", e)
		if err != nil {
			t.Fatalf("RenderActivation(%s): %v", code, err)
		}
		if got := fourDigitNumbers(m.Text); len(got) != 1 || got[0] != code {
			t.Errorf("code %s: 4-digit numbers in text = %q", code, got)
		}
	}
}

func TestRenderActivationRefusesBadContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    registration.Email
	}{
		{"no recipient", registration.Email{Kind: registration.EmailActivationCode, Code: "0427", ValidFor: time.Minute}},
		{"short code", registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "427", ValidFor: time.Minute}},
		{"long code", registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "04270", ValidFor: time.Minute}},
		{"markup in code", registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "<b>1", ValidFor: time.Minute}},
		{"no validity", registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: "0427"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := outbox.Builtin().Render("no-reply@regapi.local", tt.e)
			if !errors.Is(err, outbox.ErrInvalidEmail) {
				t.Fatalf("RenderActivation() error = %v, want ErrInvalidEmail", err)
			}
			if tt.e.Code != "" && strings.Contains(err.Error(), tt.e.Code) {
				t.Errorf("error %q quotes the code", err)
			}
		})
	}
}
