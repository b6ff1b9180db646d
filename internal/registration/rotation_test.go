package registration

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// rotated returns keys with secretOf(2) current and secretOf(1) retired, and the keys of the
// retired secret alone, as processes had them before the rotation.
func rotated(t *testing.T) (now, before *CodeKeys) {
	t.Helper()
	now, err := NewCodeKeys(secretOf(2), [][]byte{secretOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	before, err = NewCodeKeys(secretOf(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	return now, before
}

func TestIDsListTheCurrentSecretFirst(t *testing.T) {
	t.Parallel()
	now, before := rotated(t)
	ids := now.IDs()
	if len(ids) != 2 || !bytes.Equal(ids[0], now.ID()) || !bytes.Equal(ids[1], before.ID()) || bytes.Equal(ids[0], ids[1]) {
		t.Fatalf("IDs = %x, want current %x then previous %x", ids, now.ID(), before.ID())
	}
	again, err := NewCodeKeys(secretOf(2), [][]byte{nil, secretOf(2), secretOf(1), secretOf(1)})
	if err != nil || len(again.IDs()) != 2 {
		t.Fatalf("blank and repeated secrets: %d ids, %v; want 2", len(again.IDs()), err)
	}
}

func TestMalformedPreviousSecretIsRefused(t *testing.T) {
	t.Parallel()
	for _, prev := range [][]byte{[]byte("abcd"), append(secretOf(1), 0), secretOf(1)[1:]} {
		if _, err := NewCodeKeys(secretOf(2), [][]byte{prev}); err == nil {
			t.Errorf("NewCodeKeys accepted previous secret %x", prev)
		}
	}
	if _, err := NewCodeKeys(nil, nil); err == nil {
		t.Error("NewCodeKeys accepted an empty current secret")
	}
}

func TestCodeHashedUnderPreviousSecretStillMatches(t *testing.T) {
	t.Parallel()
	now, before := rotated(t)
	old := before.Hash("a@example.com", "0427")
	if !now.Matches(old, "a@example.com", "0427") {
		t.Fatal("a code hashed under the retired secret no longer matches")
	}
	if now.Matches(old, "a@example.com", "0428") {
		t.Fatal("a wrong code matches a hash made under the retired secret")
	}
	fresh := now.Hash("a@example.com", "0427")
	if bytes.Equal(fresh, old) || before.Matches(fresh, "a@example.com", "0427") {
		t.Fatal("a new code is hashed under the retired secret, not the current one")
	}
	dropped, _ := NewCodeKeys(secretOf(2), nil)
	if dropped.Matches(old, "a@example.com", "0427") {
		t.Fatal("a code of a dropped secret still matches")
	}
}

func TestOpenWhatAnySecretSealed(t *testing.T) {
	t.Parallel()
	now, before := rotated(t)
	want := Email{Kind: EmailActivationCode, To: "a@example.com", Code: "0427", ValidFor: time.Minute}
	oldSealed, err := before.Seal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := now.Open(oldSealed, before.ID()); err != nil || got != want {
		t.Fatalf("Open of an email sealed under the retired secret = %+v, %v", got, err)
	}
	newSealed, err := now.Seal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := now.Open(newSealed, now.ID()); err != nil || got != want {
		t.Fatalf("Open of a new email = %+v, %v", got, err)
	}
	// New emails are sealed under the current secret: the retired one does not open them.
	if _, err := before.Open(newSealed, now.ID()); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("the retired secret's keys opened a new email: %v", err)
	}
	if _, err := now.Open(newSealed, before.ID()); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("Open under the wrong key id: %v, want ErrUnsealable", err)
	}
	if _, err := now.Open(newSealed, []byte("unknown!")); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("Open under an unknown key id: %v, want ErrUnsealable", err)
	}
}
