package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/postgres"
)

// The outbox tests write their accounts and emails with SQL, as registration commits them,
// so that they test the outbox alone.

const lease = 30 * time.Second

var (
	keyCurrent  = []byte("current-key")
	keyPrevious = []byte("previous-key")
	bothKeys    = [][]byte{keyCurrent, keyPrevious}
)

// outboxDB is a dispatcher's outbox on a database of its own.
type outboxDB struct {
	pool *pgxpool.Pool
	ob   *postgres.BatchedOutbox
}

func newOutboxDB(t *testing.T) *outboxDB {
	t.Helper()
	pool := newPool(t)
	return &outboxDB{pool: pool, ob: postgres.NewBatchedOutbox(pool)}
}

func (db *outboxDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := db.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// account creates an account for email in status (pending or active).
func (db *outboxDB) account(t *testing.T, email, status string) {
	t.Helper()
	db.exec(t, `INSERT INTO address_codes (email) VALUES ($1) ON CONFLICT DO NOTHING`, email)
	db.exec(t, `INSERT INTO users (id, email, password_hash, status, created_at, activated_at)
		VALUES (gen_random_uuid(), $1, 'x', $2, now(), CASE WHEN $2 = 'active' THEN now() END)`, email, status)
}

// email commits an email to email sealed under keyID, carrying the account's new code when
// the address has an account, and returns its id.
func (db *outboxDB) email(t *testing.T, email string, keyID []byte) int64 {
	t.Helper()
	var id int64
	err := db.pool.QueryRow(context.Background(), `WITH m AS (
			INSERT INTO outbox (user_id, recipient, payload, key_id, next_attempt_at, created_at)
			VALUES ((SELECT id FROM users WHERE email = $1), $1, 'sealed', $2, now(), now()) RETURNING id
		), c AS (
			INSERT INTO codes (user_id, code_hash, issued_at, message_id)
			SELECT u.id, 'hash', now(), m.id FROM users u, m WHERE u.email = $1
			ON CONFLICT (user_id, kind) DO UPDATE SET message_id = EXCLUDED.message_id, sent_at = NULL
		)
		SELECT id FROM m`, email, keyID).Scan(&id)
	if err != nil {
		t.Fatalf("commit email: %v", err)
	}
	return id
}

// claim claims up to 10 messages under keyIDs and fails t unless exactly want come back.
func (db *outboxDB) claim(t *testing.T, want int, keyIDs ...[]byte) []outbox.Message {
	t.Helper()
	if keyIDs == nil {
		keyIDs = bothKeys
	}
	msgs, err := db.ob.Claim(context.Background(), keyIDs, lease, 10)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if len(msgs) != want {
		t.Fatalf("Claim returned %d messages, want %d", len(msgs), want)
	}
	return msgs
}

// age moves every time the outbox keeps back by d, as if d had passed on the database's clock.
func (db *outboxDB) age(t *testing.T, d time.Duration) {
	t.Helper()
	db.exec(t, `UPDATE outbox SET next_attempt_at = next_attempt_at - $1::interval,
		created_at = created_at - $1::interval`, d)
}

// outboxRow is a message's state as stored, with the database's time it was read at.
type outboxRow struct {
	status    string
	untilNext time.Duration // from the database's now() to next_attempt_at
	lastError *string
	attempts  int
	waiting   bool // scheduled for a retry, not held by a claimer
	sentAt    *time.Time
	codeSent  *time.Time // sent_at of the code that carries this message, if any
	now       time.Time
}

func (db *outboxDB) row(t *testing.T, id int64) outboxRow {
	t.Helper()
	var r outboxRow
	err := db.pool.QueryRow(context.Background(), `SELECT o.status, o.next_attempt_at - now(), o.last_error,
			o.attempts, o.retried_at IS NOT NULL, o.sent_at, c.sent_at, now()
		FROM outbox o LEFT JOIN codes c ON c.message_id = o.id WHERE o.id = $1`, id).
		Scan(&r.status, &r.untilNext, &r.lastError, &r.attempts, &r.waiting, &r.sentAt, &r.codeSent, &r.now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
