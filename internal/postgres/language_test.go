package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// TestEveryEmailIsInTheAccountsLanguage: the language chosen at registration is kept with the
// account and written into every email to it: codes, notices, and the notice to the old
// address after a move.
func TestEveryEmailIsInTheAccountsLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u, err := e.svc.Register(ctx, "marie@example.fr", "correct horse battery", registration.French)
	if err != nil {
		t.Fatal(err)
	}
	e.deliverAll(t)
	if u, err = e.svc.Activate(ctx, u, e.latestCode(t, u.Email)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RequestPasswordReset(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ChangePassword(ctx, u, "another fine password"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the cooldown
	if _, err := e.svc.RequestEmailChange(ctx, u, "marie@example.org"); err != nil {
		t.Fatal(err)
	}
	e.deliverAll(t)
	if _, err := e.svc.ConfirmEmailChange(ctx, u, e.latestCode(t, "marie@example.org")); err != nil {
		t.Fatal(err)
	}
	acct, err := e.accounts.Account(ctx, "marie@example.org")
	if err != nil || acct.Language != registration.French {
		t.Fatalf("account after the move: language %q, %v; want fr", acct.Language, err)
	}
	got := e.emailLanguages(t, u.ID)
	want := []string{"activation_code fr", "password_reset_code fr", "password_changed fr", "email_change_code fr", "email_changed fr"}
	if len(got) != len(want) {
		t.Fatalf("emails = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("email %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestUnsupportedLanguageIsEnglish: a language regapi does not write in makes an English
// account, and the database refuses any other value.
func TestUnsupportedLanguageIsEnglish(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	u, err := e.svc.Register(ctx, "hans@example.de", "correct horse battery", "de")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.emailLanguages(t, u.ID); len(got) != 1 || got[0] != "activation_code en" {
		t.Errorf("emails = %q, want one English activation code", got)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE users SET language = 'de' WHERE id = $1`, u.ID); err == nil {
		t.Error("the database took the language de")
	}
}

// emailLanguages opens every email about account userID, oldest first, and returns each as
// "kind language".
func (e *env) emailLanguages(t *testing.T, userID string) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sealed []byte
		if err := rows.Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		msg, err := e.keys.Open(sealed, e.keys.ID())
		if err != nil {
			t.Fatalf("open sealed email: %v", err)
		}
		out = append(out, string(msg.Kind)+" "+string(msg.Lang))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
