package registration

import (
	"reflect"
	"testing"
	"time"
)

func TestCreateAccountRecordsTheReplacedOne(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	a := &Address{Email: "a@example.com"}
	first := *pendingAccount(keys, true)
	a.CreateAccount(first)
	second := first
	second.User.ID = "u2"
	a.CreateAccount(second)
	if a.Account.User.ID != "u2" || a.Account.Code(CodeActivation) != nil {
		t.Fatalf("account %+v, want u2 without a code", a.Account)
	}
	first.Codes, second.Codes = nil, nil
	want := []Change{AccountCreated{Account: first}, AccountCreated{Account: second, Replaced: "u1"}}
	if got := a.Changes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n%+v\nwant\n%+v", got, want)
	}
}

func TestIssueCodeCutsTheHistoryToTheQuotaWindow(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	now := t0.Add(QuotaWindow + time.Hour)
	a := &Address{
		Email:       "a@example.com",
		Account:     pendingAccount(keys, true),
		CodesIssued: []time.Time{t0, now.Add(-QuotaWindow), now.Add(-time.Hour)},
	}
	c := Code{Kind: CodeActivation, Hash: []byte("h"), IssuedAt: now}
	out := SealedEmail{Kind: EmailActivationCode, Recipient: a.Email, Sealed: []byte("s"), KeyID: []byte("k")}
	a.IssueCode(a.Account, c, out)
	history := []time.Time{now.Add(-time.Hour), now}
	if !reflect.DeepEqual(a.CodesIssued, history) || !reflect.DeepEqual(*a.Account.Code(CodeActivation), c) {
		t.Fatalf("history %v and code %+v, want %v and %+v", a.CodesIssued, a.Account.Code(CodeActivation), history, c)
	}
	want := []Change{CodeIssued{UserID: "u1", Code: c, Email: out, History: history}}
	if got := a.Changes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n%+v\nwant\n%+v", got, want)
	}
}

func TestRehashPasswordRecordsTheVerifiedHash(t *testing.T) {
	t.Parallel()
	a := &Address{Email: "a@example.com", Account: pendingAccount(testKeys(t), true)}
	a.Account.PasswordHash = "old"
	a.RehashPassword("old", "new")
	want := []Change{PasswordRehashed{UserID: "u1", Old: "old", New: "new"}}
	if got := a.Changes(); a.Account.PasswordHash != "new" || !reflect.DeepEqual(got, want) {
		t.Fatalf("hash %q, changes %+v; want new and %+v", a.Account.PasswordHash, got, want)
	}
}
