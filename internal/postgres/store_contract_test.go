package postgres_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// The store contract over PostgreSQL: the same tests as over the in-memory store, each on a
// database of its own, in each of the ways pgx can speak to the server that DATABASE_URL can
// ask for (default_query_exec_mode): the transactions pipeline their BEGIN and COMMIT with
// their statements, and each mode sends a batch differently (exec is the one PgBouncer needs).
func TestAccountStoreContract(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			runStoreContract(t, mode)
		})
	}
}

func runStoreContract(t *testing.T, mode string) {
	registrationtest.RunStoreContract(t, func(t *testing.T) registrationtest.Harness {
		url, err := withQueryParam(pgtest.NewDatabase(t), "default_query_exec_mode", mode)
		if err != nil {
			t.Fatal(err)
		}
		pool := openPool(t, url)
		ctx := context.Background()
		exec := func(t *testing.T, sql string, args ...any) {
			t.Helper()
			if _, err := pool.Exec(ctx, sql, args...); err != nil {
				t.Fatal(err)
			}
		}
		return registrationtest.Harness{
			Store: postgres.NewAccountStore(pool, nil),
			Emails: func(t *testing.T, recipient string) []registration.SealedEmail {
				rows, _ := pool.Query(ctx, `SELECT email_kind, recipient, payload, key_id FROM outbox
					WHERE destination = 'email' AND recipient = $1 ORDER BY id`, recipient)
				var out []registration.SealedEmail
				for rows.Next() {
					var e registration.SealedEmail
					if err := rows.Scan(&e.Kind, &e.Recipient, &e.Sealed, &e.KeyID); err != nil {
						t.Fatal(err)
					}
					out = append(out, e)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			},
			// As MarkSent does, at the given time instead of the database's.
			Deliver: func(t *testing.T, recipient string, at time.Time) {
				exec(t, `WITH sent AS (
						UPDATE outbox SET status = 'sent', sent_at = $2
						WHERE destination = 'email' AND recipient = $1 AND status = 'pending' RETURNING id)
					UPDATE codes SET sent_at = $2 WHERE message_id IN (SELECT id FROM sent)`, recipient, at)
			},
			GiveUp: func(t *testing.T, recipient string) {
				exec(t, `UPDATE outbox SET status = 'dead', dead_at = now() WHERE destination = 'email' AND recipient = $1
					AND status = 'pending'`, recipient)
			},
			Events: func(t *testing.T, id string) int {
				var n int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE destination = 'event'
					AND account_id = $1`, id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
		}
	})
}

// withQueryParam returns the connection URL u with the query parameter name set to value.
func withQueryParam(u, name, value string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := parsed.Query()
	q.Set(name, value)
	parsed.RawQuery = q.Encode()
	return parsed.String(), nil
}
