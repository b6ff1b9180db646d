package registration

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestNewCodeIsFourDigits(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	seen := map[string]bool{}
	for range 2000 {
		code, err := keys.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidCode(code) {
			t.Fatalf("NewCode() = %q, not 4 digits", code)
		}
		seen[code] = true
	}
	// 2,000 draws from 10,000 values give about 1,813 distinct ones; far fewer means a bias.
	if len(seen) < 1700 {
		t.Fatalf("only %d distinct codes in 2000 draws", len(seen))
	}
}

func TestCodeHash(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	other, err := NewCodeKeys(secretOf(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := keys.Hash("a@example.com", "0427")
	if bytes.Contains(h, []byte("0427")) {
		t.Fatal("hash contains the code")
	}
	if !keys.Matches(h, "a@example.com", "0427") {
		t.Fatal("right code does not match")
	}
	for _, tc := range []struct{ email, code string }{{"a@example.com", "0428"}, {"b@example.com", "0427"}} {
		if keys.Matches(h, tc.email, tc.code) {
			t.Fatalf("%s/%s matches", tc.email, tc.code)
		}
	}
	if other.Matches(h, "a@example.com", "0427") {
		t.Fatal("hash matches under another secret")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	want := Email{Kind: EmailActivationCode, To: "a@example.com", Code: "0427", ValidFor: time.Minute}
	sealed, err := keys.Seal(want)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("0427")) || bytes.Contains(sealed, []byte("example")) {
		t.Fatal("sealed payload is readable")
	}
	got, err := keys.Open(sealed, keys.ID())
	if err != nil || got != want {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, want)
	}
	other, _ := NewCodeKeys(secretOf(1), nil)
	if _, err := other.Open(sealed, other.ID()); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("Open under another secret: got %v, want ErrUnsealable", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := keys.Open(sealed, keys.ID()); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("Open of a damaged payload: got %v, want ErrUnsealable", err)
	}
	if _, err := NewCodeKeys([]byte("abcd"), nil); err == nil {
		t.Fatal("NewCodeKeys accepted a short secret")
	}
}

func TestKeyIDNamesTheSecret(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t), testKeys(t)
	other, _ := NewCodeKeys(secretOf(1), nil)
	if !bytes.Equal(a.ID(), b.ID()) || bytes.Equal(a.ID(), other.ID()) || len(a.ID()) != 8 {
		t.Fatalf("key ids: %x %x %x", a.ID(), b.ID(), other.ID())
	}
}
