package password_test

import (
	"testing"
	"time"

	"github.com/regapi/regapi/internal/password"
)

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	h := password.NewHasher(cheap, 1, 1, time.Second)
	hashWith := func(p password.Params) string {
		encoded, err := password.NewHasher(p, 1, 1, time.Second).Hash(t.Context(), "s3cret-password")
		if err != nil {
			t.Fatalf("Hash with %+v: %v", p, err)
		}
		return encoded
	}
	const salt8, salt16 = "c2FsdHNhbHQ", "c2FsdHNhbHRzYWx0c2FsdA"
	const key16, key32 = "a2V5a2V5a2V5a2V5a2V5aw", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, encoded string
		want          bool
	}{
		{"current parameters", hashWith(cheap), false},
		{"more memory", hashWith(password.Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1}), true},
		{"less memory", hashWith(password.Params{MemoryKiB: 32, Iterations: 1, Parallelism: 1}), true},
		{"more iterations", hashWith(password.Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1}), true},
		{"more lanes", hashWith(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 2}), true},
		{"current format by hand", "$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + key32, false},
		{"shorter salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt8 + "$" + key32, true},
		{"shorter key", "$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + key16, true},
		{"older argon2 version", "$argon2id$v=16$m=64,t=1,p=1$" + salt16 + "$" + key32, true},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt16 + "$" + key32, true},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		if got := h.NeedsRehash(tt.encoded); got != tt.want {
			t.Errorf("%s: NeedsRehash(%q) = %v, want %v", tt.name, tt.encoded, got, tt.want)
		}
	}
}
