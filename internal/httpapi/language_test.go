package httpapi

import (
	"testing"

	"github.com/regapi/regapi/internal/registration"
)

func TestEmailLanguage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   registration.Language
	}{
		{"", registration.English},
		{"fr", registration.French},
		{"fr-CA", registration.French},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", registration.French},
		{"fr;q=0.9, en;q=0.8", registration.French},
		{"en;q=0.8, fr;q=0.9", registration.French},
		{"fr;q=0.8, en;q=0.9", registration.English},
		{"en-GB", registration.English},
		{"de-DE, fr;q=0.5", registration.French},
		{"de-DE", registration.English},
		{"ja, zh-Hant;q=0.9", registration.English},
		{"*", registration.English},
		{"fr;q=0, en", registration.English},
		{"garbage;;q=fr", registration.English},
		{"\x00\xff", registration.English},
		{"en-US,en;q=0.9,fr-FR;q=0.8,fr;q=0.7", registration.English},
		{"FR-be", registration.French},
	}
	for _, tt := range tests {
		if got := emailLanguage(tt.header); got != tt.want {
			t.Errorf("emailLanguage(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
	// A header sent twice counts as one list (RFC 9110, section 5.3).
	if got := emailLanguage("de", "fr;q=0.5"); got != registration.French {
		t.Errorf("emailLanguage(de; fr;q=0.5) = %q, want fr", got)
	}
}
