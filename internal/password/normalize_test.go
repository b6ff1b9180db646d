package password_test

import (
	"testing"
	"time"

	"github.com/regapi/regapi/internal/password"
)

func TestEquivalentFormsOfAPasswordMatch(t *testing.T) {
	t.Parallel()
	h := password.NewHasher(cheap, 2, 4, time.Second)
	tests := []struct {
		name, registered, typed string
	}{
		{"NFD typed, NFC registered", "Caf\u00e9-No\u00ebl-2024", "Cafe\u0301-Noe\u0308l-2024"},
		{"NFC typed, NFD registered", "Cafe\u0301-Noe\u0308l-2024", "Caf\u00e9-No\u00ebl-2024"},
		{"Hangul jamo typed, syllables registered", "\ud55c\uad6d\uc5b4 \ube44\ubc00", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165 \u1107\u1175\u1106\u1175\u11af"},
		{"fullwidth digits", "password\uff11\uff12\uff13", "password123"},
		{"ligature", "\ufb03x-password", "ffix-password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			encoded, err := h.Hash(t.Context(), tt.registered)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if ok, err := h.Verify(t.Context(), encoded, tt.typed); !ok || err != nil {
				t.Errorf("Verify(%+q) against a hash of %+q = %v, %v; want true, nil", tt.typed, tt.registered, ok, err)
			}
		})
	}
}

func TestNormalisationKeepsDistinctPasswordsDistinct(t *testing.T) {
	t.Parallel()
	h := password.NewHasher(cheap, 1, 1, time.Second)
	encoded, err := h.Hash(t.Context(), "Caf\u00e9-No\u00ebl-2024")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	// NFKC composes and unfolds compatibility forms; it does not strip accents or fold case.
	for _, other := range []string{"Cafe-Noel-2024", "caf\u00e9-no\u00ebl-2024", "Caf\u00e8-No\u00ebl-2024"} {
		if ok, err := h.Verify(t.Context(), encoded, other); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", other, ok, err)
		}
	}
}
