package password_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/password"
)

// cheap keeps tests fast, above all under the race detector; the benchmark uses the defaults.
var cheap = password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashRoundTrip(t *testing.T) {
	t.Parallel()
	h := password.NewHasher(cheap, 2, 4, time.Second)
	ctx := t.Context()
	tests := []struct {
		name, password string
	}{
		{"ascii", "correct horse battery staple"},
		{"colon and unicode", "pä:ss wörd 🔑"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			encoded, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !phc.MatchString(encoded) {
				t.Errorf("Hash = %q, want a PHC string", encoded)
			}
			if ok, err := h.Verify(ctx, encoded, tt.password); !ok || err != nil {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			if ok, err := h.Verify(ctx, encoded, tt.password+"x"); ok || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
			again, _ := h.Hash(ctx, tt.password)
			if again == encoded {
				t.Errorf("two hashes of one password are equal: the salt is not random")
			}
		})
	}
}

func TestVerifyReadsParametersFromTheHash(t *testing.T) {
	t.Parallel()
	old := password.NewHasher(password.Params{MemoryKiB: 128, Iterations: 3, Parallelism: 2}, 1, 1, time.Second)
	encoded, err := old.Hash(t.Context(), "s3cret-password")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if want := regexp.MustCompile(`^\$argon2id\$v=19\$m=128,t=3,p=2\$`); !want.MatchString(encoded) {
		t.Fatalf("Hash = %q, want the parameters m=128,t=3,p=2 in it", encoded)
	}
	current := password.NewHasher(cheap, 1, 1, time.Second)
	if ok, err := current.Verify(t.Context(), encoded, "s3cret-password"); !ok || err != nil {
		t.Errorf("Verify with other parameters configured = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	t.Parallel()
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$"},
		{"parameters reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"parameter not a number", "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"absurd memory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"absurd iterations", "$argon2id$v=19$m=64,t=100000,p=1$" + salt + "$" + key},
		{"zero iterations", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero parallelism", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"parallelism overflow", "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
	}
	h := password.NewHasher(cheap, 1, 1, time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := h.Verify(t.Context(), tt.encoded, "password")
			if ok || !errors.Is(err, password.ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tt.encoded, ok, err)
			}
		})
	}
}

func TestHashRefusesInvalidParams(t *testing.T) {
	t.Parallel()
	tests := []password.Params{
		{MemoryKiB: 0, Iterations: 1, Parallelism: 1},
		{MemoryKiB: password.MaxMemoryKiB + 1, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 0},
	}
	for _, p := range tests {
		_, err := password.NewHasher(p, 1, 1, time.Second).Hash(t.Context(), "password")
		if !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("Hash with %+v: error = %v, want ErrInvalidParams", p, err)
		}
	}
	if err := password.DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams.Validate() = %v", err)
	}
}

func BenchmarkHash(b *testing.B) {
	h := password.NewHasher(password.DefaultParams, 1, 1, 0)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
