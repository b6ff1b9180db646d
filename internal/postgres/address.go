package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/registration"
)

// saveChanges writes changes, each as its statements, in one round trip, and reports whether
// they commit an outgoing email.
func saveChanges(ctx context.Context, tx pgx.Tx, email string, changes []registration.Change) (bool, error) {
	if len(changes) == 0 {
		return false, nil
	}
	b := &pgx.Batch{}
	outgoing := false
	for _, c := range changes {
		if err := queueChange(b, email, c); err != nil {
			return false, err
		}
		_, issued := c.(registration.CodeIssued)
		outgoing = outgoing || issued
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("save address: %w", err)
	}
	return outgoing, nil
}

// queueChange queues the statements that write change c to the address email.
func queueChange(b *pgx.Batch, email string, c registration.Change) error {
	switch c := c.(type) {
	case registration.AccountCreated:
		if c.Replaced != "" {
			// The cascade takes the old account's code with it.
			b.Queue(`DELETE FROM users WHERE id = $1`, c.Replaced)
		}
		u := c.Account.User
		b.Queue(`INSERT INTO users (id, email, password_hash, status, created_at, activated_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, u.Email, c.Account.PasswordHash, u.Status, u.CreatedAt, u.ActivatedAt)
	case registration.CodeIssued:
		out := c.Email
		b.Queue(insertCodeWithMessage, c.UserID, c.Code.Hash, c.Code.IssuedAt, c.Code.Attempts,
			out.Recipient, out.Sealed, out.KeyID)
		b.Queue(`UPDATE address_codes SET issued = $2 WHERE email = $1`, email, c.History)
	case registration.AttemptCounted:
		// Only the count: sent_at belongs to MarkSent, which may set it meanwhile.
		b.Queue(`UPDATE activation_codes SET attempts = $2 WHERE user_id = $1`, c.UserID, c.Attempts)
	case registration.Activated:
		b.Queue(`UPDATE users SET status = 'active', activated_at = $2 WHERE id = $1`, c.UserID, c.At)
		b.Queue(`DELETE FROM activation_codes WHERE user_id = $1`, c.UserID)
	case registration.PasswordRehashed:
		// The address lock already keeps the hash as verified; the condition says so in SQL too.
		b.Queue(`UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`,
			c.UserID, c.Old, c.New)
	default:
		return fmt.Errorf("save address: unknown change %T", c)
	}
	return nil
}

// insertCodeWithMessage commits an outgoing email and the code it carries, linked by
// message_id so that MarkSent can start the code's lifetime. The message is due at once by
// the database's clock, which every lease and due time uses: a host whose clock runs ahead
// must not delay its first send.
const insertCodeWithMessage = `WITH message AS (
		INSERT INTO outbox (recipient, payload, key_id, next_attempt_at, created_at)
		VALUES ($5, $6, $7, now(), $3)
		RETURNING id
	)
	INSERT INTO activation_codes (user_id, code_hash, issued_at, attempts, message_id)
	SELECT $1, $2, $3, $4, id FROM message
	ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash,
		issued_at = EXCLUDED.issued_at, sent_at = NULL, attempts = EXCLUDED.attempts,
		message_id = EXCLUDED.message_id, undeliverable = false`
