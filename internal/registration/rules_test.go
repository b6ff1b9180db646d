package registration

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	policy = Policy{CodeTTL: time.Minute, MaxAttempts: 5, ResendCooldown: 30 * time.Second, MaxCodesPerDay: 10}
)

// secretOf returns a hex-encoded secret made of SecretSize bytes b.
func secretOf(b byte) []byte { return bytes.Repeat([]byte{b}, SecretSize) }

func testKeys(t *testing.T) *CodeKeys {
	t.Helper()
	keys, err := NewCodeKeys(secretOf(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// pendingAccount returns a pending account whose code "1234" was issued at t0 and, when sent is
// set, accepted by the provider at t0+1s.
func pendingAccount(keys *CodeKeys, sent bool) *Account {
	acct := &Account{
		User:  User{ID: "u1", Email: "a@example.com", Status: StatusPending, CreatedAt: t0},
		Codes: map[CodeKind]*Code{CodeActivation: {Kind: CodeActivation, Hash: keys.Hash("a@example.com", "1234"), IssuedAt: t0}},
	}
	if sent {
		at := t0.Add(time.Second)
		acct.Code(CodeActivation).SentAt = &at
	}
	return acct
}

func TestActivate(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	sentAt := t0.Add(time.Second)
	tests := []struct {
		name     string
		sent     bool
		attempts int
		active   bool
		code     string
		at       time.Time
		want     error
	}{
		{name: "right code just before the TTL", sent: true, code: "1234", at: sentAt.Add(time.Minute - time.Nanosecond)},
		{name: "right code at the TTL is expired", sent: true, code: "1234", at: sentAt.Add(time.Minute), want: ErrCodeExpired},
		{name: "expired just after the TTL", sent: true, code: "1234", at: sentAt.Add(time.Minute + time.Millisecond), want: ErrCodeExpired},
		{name: "not yet handed to the provider never expires", sent: false, code: "1234", at: t0.Add(time.Hour)},
		{name: "wrong code", sent: true, code: "4321", at: sentAt, want: ErrInvalidCode},
		{name: "right digits after the last wrong try", sent: true, attempts: 5, code: "1234", at: sentAt, want: ErrTooManyAttempts},
		{name: "one try left", sent: true, attempts: 4, code: "1234", at: sentAt},
		{name: "already active", sent: true, active: true, code: "1234", at: sentAt, want: ErrAlreadyActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			acct := pendingAccount(keys, tt.sent)
			acct.Code(CodeActivation).Attempts = tt.attempts
			if tt.active {
				acct.User.Status = StatusActive
			}
			a := &Address{Email: acct.User.Email, Account: acct}
			err := policy.tryActivationCode(a, tt.code, tt.at, keys)
			if !errors.Is(err, tt.want) {
				t.Fatalf("activate: got %v, want %v", err, tt.want)
			}
			if tt.want == nil && (acct.User.Status != StatusActive || acct.User.ActivatedAt == nil || acct.Code(CodeActivation) != nil) {
				t.Fatalf("activate succeeded but account is %+v", acct)
			}
			if want := wantActivateChanges(tt.want, acct, tt.at); !reflect.DeepEqual(a.Changes(), want) {
				t.Fatalf("changes %+v, want %+v", a.Changes(), want)
			}
		})
	}
}

func TestActivateCountsWrongTries(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	acct := pendingAccount(keys, true)
	a := &Address{Email: acct.User.Email, Account: acct}
	for i := 1; i <= policy.MaxAttempts; i++ {
		if err := policy.tryActivationCode(a, "0000", t0.Add(2*time.Second), keys); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("try %d: got %v, want ErrInvalidCode", i, err)
		}
		if acct.Code(CodeActivation).Attempts != i {
			t.Fatalf("try %d: attempts = %d", i, acct.Code(CodeActivation).Attempts)
		}
	}
	if err := policy.tryActivationCode(a, "1234", t0.Add(2*time.Second), keys); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right code after the limit: got %v, want ErrTooManyAttempts", err)
	}
	if acct.Code(CodeActivation).Attempts != policy.MaxAttempts {
		t.Fatalf("attempts grew past the limit: %d", acct.Code(CodeActivation).Attempts)
	}
}

// wantActivateChanges returns the changes an activation attempt with outcome err records.
func wantActivateChanges(err error, acct *Account, at time.Time) []Change {
	switch {
	case err == nil:
		return []Change{Activated{UserID: acct.User.ID, At: at}}
	case errors.Is(err, ErrInvalidCode):
		return []Change{AttemptCounted{UserID: acct.User.ID, Kind: CodeActivation, Attempts: acct.Code(CodeActivation).Attempts}}
	}
	return nil
}

func TestHoldsAddress(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	sentAt := t0.Add(time.Second)
	tests := []struct {
		name          string
		active        bool
		sent          bool
		undeliverable bool
		at            time.Time
		want          bool
	}{
		{name: "active", active: true, sent: true, at: t0.Add(48 * time.Hour), want: true},
		{name: "pending, code valid", sent: true, at: sentAt.Add(59 * time.Second), want: true},
		{name: "pending, code expired", sent: true, at: sentAt.Add(time.Minute), want: false},
		{name: "pending, email on its way", sent: false, at: t0.Add(time.Hour), want: true},
		{name: "pending, email undeliverable", undeliverable: true, at: t0.Add(time.Second), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			acct := pendingAccount(keys, tt.sent)
			acct.Code(CodeActivation).Undeliverable = tt.undeliverable
			if tt.active {
				acct.User.Status = StatusActive
			}
			if got := policy.holdsAddress(acct, tt.at); got != tt.want {
				t.Fatalf("holdsAddress = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckQuota(t *testing.T) {
	t.Parallel()
	issued := func(n int, first time.Time) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, first.Add(time.Duration(i)*time.Hour))
		}
		return out
	}
	tests := []struct {
		name      string
		issued    []time.Time
		at        time.Time
		wantAfter time.Duration // 0: allowed
		wantKept  int
	}{
		{name: "nine codes", issued: issued(9, t0), at: t0.Add(9 * time.Hour), wantKept: 9},
		{name: "ten codes", issued: issued(10, t0), at: t0.Add(10 * time.Hour), wantAfter: 14 * time.Hour, wantKept: 10},
		{name: "oldest leaves the window", issued: issued(10, t0), at: t0.Add(24*time.Hour + time.Second), wantKept: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &Address{CodesIssued: tt.issued}
			err := policy.checkQuota(a, tt.at)
			after, _ := RetryAfter(err)
			if after != tt.wantAfter || (tt.wantAfter > 0) != errors.Is(err, ErrResendCooldown) {
				t.Fatalf("checkQuota: got %v (retry after %s), want retry after %s", err, after, tt.wantAfter)
			}
			if kept := recentIssues(a.CodesIssued, tt.at); len(kept) != tt.wantKept {
				t.Fatalf("kept %d issue times, want %d", len(kept), tt.wantKept)
			}
		})
	}
}

func TestCheckCooldown(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	tests := []struct {
		at        time.Time
		wantAfter time.Duration
	}{
		{at: t0, wantAfter: 30 * time.Second},
		{at: t0.Add(29*time.Second + 100*time.Millisecond), wantAfter: time.Second},
		{at: t0.Add(30 * time.Second)},
	}
	for _, tt := range tests {
		err := policy.checkCooldown(pendingAccount(keys, true), CodeActivation, tt.at)
		if after, _ := RetryAfter(err); after != tt.wantAfter {
			t.Fatalf("at %s: got %v, want retry after %s", tt.at.Sub(t0), err, tt.wantAfter)
		}
	}
}
