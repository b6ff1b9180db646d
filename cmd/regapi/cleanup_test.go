package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// `regapi cleanup` applies the retention rules once, prints what it removed and exits 0,
// while the service runs; an account still pending past PENDING_ACCOUNT_RETENTION goes, an
// active one and a fresh pending one stay.
func TestCleanupCommandRemovesExpiredPendingAccounts(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	a := startApp(t, env)
	a.register(t, "old@example.com", "password-1234").want(t, http.StatusCreated, "")
	a.register(t, "fresh@example.com", "password-1234").want(t, http.StatusCreated, "")
	// Sent means recorded, not only logged: the code's lifetime starts when the delivery is
	// recorded, a moment after the provider took the email, and it is that time that ageing
	// moves into the past.
	db := openDB(t, env["DATABASE_URL"])
	waitUntil(t, 30*time.Second, func() (bool, string) {
		var sent int
		err := db.QueryRow(context.Background(), `SELECT count(*) FROM codes c JOIN users u ON u.id = c.user_id
			WHERE u.email IN ('old@example.com', 'fresh@example.com') AND c.sent_at IS NOT NULL`).Scan(&sent)
		return err == nil && sent == 2, "both codes recorded as sent"
	})
	ageAccount(t, env["DATABASE_URL"], "old@example.com", 3*time.Hour)

	env["PENDING_ACCOUNT_RETENTION"] = "1h"
	var out bytes.Buffer
	if err := run(context.Background(), []string{"cleanup"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("cleanup: %v (output %q)", err, out.String())
	}
	if !strings.Contains(out.String(), "removed 1 pending accounts") {
		t.Fatalf("cleanup printed %q", out.String())
	}
	a.do(t, http.MethodGet, "/v1/users/me", "", "old@example.com", "password-1234").want(t, http.StatusUnauthorized, "unauthorized")
	a.do(t, http.MethodGet, "/v1/users/me", "", "fresh@example.com", "password-1234").want(t, http.StatusOK, "")
}

// ageAccount moves the account of email, its code and its email into the past by d.
func ageAccount(t *testing.T, databaseURL, email string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`UPDATE users SET created_at = created_at - $2::interval WHERE email = $1`,
		`UPDATE codes c SET issued_at = issued_at - $2::interval, sent_at = sent_at - $2::interval
			FROM users u WHERE u.id = c.user_id AND u.email = $1`,
	} {
		if _, err := conn.Exec(ctx, q, email, d.String()); err != nil {
			t.Fatal(err)
		}
	}
}
