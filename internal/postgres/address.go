package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// queueChanges queues into b the changes recorded on each of addrs, in order, each as its
// statements, and reports whether they commit an email. An address left with neither an
// account nor a quota history is then removed: looking up an address (a password reset of
// an unknown one, say) leaves no record behind.
func queueChanges(b *pgx.Batch, addrs []*registration.Address) (outgoing bool, err error) {
	for _, a := range addrs {
		for _, c := range a.Changes() {
			if err := queueChange(b, a.Email, c); err != nil {
				return false, err
			}
			switch c.(type) {
			case registration.CodeIssued, registration.EmailQueued, registration.EventQueued:
				outgoing = true
			}
		}
	}
	for _, a := range addrs {
		if a.Account == nil && len(a.CodesIssued) == 0 {
			b.Queue(`DELETE FROM address_codes a WHERE a.email = $1 AND a.issued = '{}'
				AND NOT EXISTS (SELECT 1 FROM users u WHERE u.email = a.email)`, a.Email)
		}
	}
	return outgoing, nil
}

// queueChange queues the statements that write change c, recorded on the address email.
func queueChange(b *pgx.Batch, email string, c registration.Change) error {
	switch c := c.(type) {
	case registration.CodeIssued:
		code, out := c.Code, c.Email
		var newEmail *string
		if code.NewEmail != "" {
			newEmail = &code.NewEmail
		}
		b.Queue(insertCodeWithEmail, c.UserID, code.Kind, code.Hash, code.IssuedAt, code.Attempts,
			newEmail, out.Recipient, out.Sealed, out.KeyID, out.Kind)
		b.Queue(`UPDATE address_codes SET issued = $2 WHERE email = $1`, email, c.History)
	case registration.EmailQueued:
		out := c.Email
		b.Queue(insertEmail, c.UserID, out.Recipient, out.Sealed, out.KeyID, out.Kind, c.At)
	case registration.EventQueued:
		b.Queue(insertEvent, c.AccountID, c.Email, c.Body, outbox.EventKeyID, c.Type, c.At)
	case registration.ReceiptRecorded:
		queueRecordAnswer(b, c.Scope, c.Endpoint, c.Key, c.Answer)
	default:
		return queueAccountChange(b, c)
	}
	return nil
}

// queueAccountChange queues the statements of c, a change of an account or of its codes.
func queueAccountChange(b *pgx.Batch, c registration.Change) error {
	switch c := c.(type) {
	case registration.AccountCreated:
		if c.Replaced != "" {
			queueDeleteAccount(b, c.Replaced)
		}
		u := c.Account.User
		b.Queue(`INSERT INTO users (id, email, password_hash, status, created_at, activated_at, language)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			u.ID, u.Email, c.Account.PasswordHash, u.Status, u.CreatedAt, u.ActivatedAt, c.Account.Language)
	case registration.AttemptCounted:
		// Only the count: sent_at belongs to MarkSent, which may set it meanwhile.
		b.Queue(`UPDATE codes SET attempts = $3 WHERE user_id = $1 AND kind = $2`, c.UserID, c.Kind, c.Attempts)
	case registration.CodeSpent:
		b.Queue(`DELETE FROM codes WHERE user_id = $1 AND kind = $2`, c.UserID, c.Kind)
	case registration.Activated:
		b.Queue(`UPDATE users SET status = 'active', activated_at = $2 WHERE id = $1`, c.UserID, c.At)
		b.Queue(`DELETE FROM codes WHERE user_id = $1 AND kind = $2`, c.UserID, registration.CodeActivation)
	case registration.PasswordRehashed:
		// The address lock already keeps the hash as verified; the condition says so in SQL too.
		b.Queue(`UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`,
			c.UserID, c.Old, c.New)
	case registration.PasswordChanged:
		b.Queue(`UPDATE users SET password_hash = $2 WHERE id = $1`, c.UserID, c.Hash)
	case registration.EmailChanged:
		b.Queue(`DELETE FROM codes WHERE user_id = $1`, c.UserID)
		b.Queue(`UPDATE users SET email = $2 WHERE id = $1`, c.UserID, c.New)
	case registration.AccountDeleted:
		queueDeleteAccount(b, c.UserID)
	default:
		return fmt.Errorf("save address: unknown change %T", c)
	}
	return nil
}

// queueDeleteAccount queues the deletion of account id; the cascades take its codes and
// every email to it, sent or not. Its outbox rows are locked first, in id order: a
// dispatcher recording a delivery locks the email's row, then its code, and a cascade that
// took the code first would deadlock with it.
func queueDeleteAccount(b *pgx.Batch, id string) {
	b.Queue(`SELECT FROM outbox WHERE user_id = $1 ORDER BY id FOR UPDATE`, id)
	b.Queue(`DELETE FROM users WHERE id = $1`, id)
}

// insertEmail commits an email that carries no code. It is due at once by the database's
// clock, which every lease and due time uses: a host whose clock runs ahead must not delay
// its first send.
const insertEmail = `INSERT INTO outbox (user_id, recipient, payload, key_id, email_kind, next_attempt_at, created_at)
	VALUES ($1, $2, $3, $4, $5, now(), $6)`

// insertEvent commits an account event: its body is the event as posted, readable (it holds
// no secret), under the key id of events. It is due at once, as in insertEmail.
const insertEvent = `INSERT INTO outbox (destination, account_id, recipient, payload, key_id, email_kind,
		event_type, next_attempt_at, created_at)
	VALUES ('event', $1, $2, $3, $4, NULL, $5, now(), $6)`

// insertCodeWithEmail commits an email and the code it carries, linked by message_id so that
// MarkSent can start the code's lifetime; the code replaces the account's earlier one of its
// kind. The email is due at once, as in insertEmail.
const insertCodeWithEmail = `WITH message AS (
		INSERT INTO outbox (user_id, recipient, payload, key_id, email_kind, next_attempt_at, created_at)
		VALUES ($1, $7, $8, $9, $10, now(), $4)
		RETURNING id
	)
	INSERT INTO codes (user_id, kind, code_hash, issued_at, attempts, new_email, message_id)
	SELECT $1, $2, $3, $4, $5, $6, id FROM message
	ON CONFLICT (user_id, kind) DO UPDATE SET code_hash = EXCLUDED.code_hash,
		issued_at = EXCLUDED.issued_at, sent_at = NULL, attempts = EXCLUDED.attempts,
		new_email = EXCLUDED.new_email, message_id = EXCLUDED.message_id, undeliverable = false`
