package registration

import (
	"errors"
	"testing"
	"time"
)

// withResetCode returns a's account holding also a reset code "5678" issued at t0 and sent at
// t0+1s, with attempts wrong tries behind it.
func withResetCode(keys *CodeKeys, attempts int) *Address {
	acct := pendingAccount(keys, true)
	sent := t0.Add(time.Second)
	acct.Codes[CodePasswordReset] = &Code{Kind: CodePasswordReset, Hash: keys.Hash("a@example.com", "5678"),
		IssuedAt: t0, SentAt: &sent, Attempts: attempts}
	return &Address{Email: "a@example.com", Account: acct}
}

// TestTryCodeBlindTellsOnlyTheRightDigits: without the right code, every answer is
// ErrInvalidCode, whether the address has no account, no live code, an expired or a burned one.
func TestTryCodeBlindTellsOnlyTheRightDigits(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	live, expired := t0.Add(30*time.Second), t0.Add(2*time.Minute)
	tests := []struct {
		name     string
		addr     func() *Address
		code     string
		at       time.Time
		want     error
		attempts int // counted on the reset code afterwards, -1 when there is none
	}{
		{"no account", func() *Address { return &Address{Email: "a@example.com"} }, "5678", live, ErrInvalidCode, -1},
		{"no reset code", func() *Address {
			return &Address{Email: "a@example.com", Account: pendingAccount(keys, true)}
		}, "1234", live, ErrInvalidCode, -1},
		{"activation digits are no reset code", func() *Address { return withResetCode(keys, 0) }, "1234", live, ErrInvalidCode, 1},
		{"wrong code counted", func() *Address { return withResetCode(keys, 2) }, "0000", live, ErrInvalidCode, 3},
		{"right code", func() *Address { return withResetCode(keys, 4) }, "5678", live, nil, 4},
		{"wrong code on an expired one", func() *Address { return withResetCode(keys, 0) }, "0000", expired, ErrInvalidCode, 0},
		{"right code, expired", func() *Address { return withResetCode(keys, 0) }, "5678", expired, ErrCodeExpired, 0},
		{"wrong code on a burned one", func() *Address { return withResetCode(keys, 5) }, "0000", live, ErrInvalidCode, 5},
		{"right code, burned", func() *Address { return withResetCode(keys, 5) }, "5678", live, ErrTooManyAttempts, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := tt.addr()
			if err := policy.tryCodeBlind(a, CodePasswordReset, tt.code, tt.at, keys); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("tryCodeBlind = %v, want %v", err, tt.want)
			}
			got := -1
			if a.Account != nil && a.Account.Code(CodePasswordReset) != nil {
				got = a.Account.Code(CodePasswordReset).Attempts
			}
			if got != tt.attempts {
				t.Fatalf("attempts = %d, want %d", got, tt.attempts)
			}
		})
	}
}

// TestMoveAccountHereDropsItsCodes: codes made for the old address die with the move.
func TestMoveAccountHereDropsItsCodes(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	from := withResetCode(keys, 0)
	to := &Address{Email: "b@example.com"}
	to.MoveAccountHere(from)
	if from.Account != nil || to.Account == nil || to.Account.User.Email != "b@example.com" || len(to.Account.Codes) != 0 {
		t.Fatalf("from %+v, to %+v: want the account at b@example.com without codes", from.Account, to.Account)
	}
	want := EmailChanged{UserID: "u1", Old: "a@example.com", New: "b@example.com"}
	if got := to.Changes(); len(got) != 1 || got[0] != want {
		t.Fatalf("changes %+v, want [%+v]", got, want)
	}
}

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"alice@example.org": "a***@example.org",
		"a@example.org":     "a***@example.org",
		"no-at-sign":        "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
