package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/registration"
)

// errOrphanEmail reports an outgoing email the domain did not tie to an activation code.
var errOrphanEmail = errors.New("outgoing email without an activation code to carry")

// cloneAddress returns a deep copy of a, so that what fn changes can be told from what was loaded.
func cloneAddress(a registration.Address) registration.Address {
	a.CodesIssued = slices.Clone(a.CodesIssued)
	if a.Account == nil {
		return a
	}
	acct := *a.Account
	acct.User.ActivatedAt = clonePtr(acct.User.ActivatedAt)
	if acct.Code != nil {
		c := *acct.Code
		c.Hash = slices.Clone(c.Hash)
		c.SentAt = clonePtr(c.SentAt)
		acct.Code = &c
	}
	a.Account = &acct
	return a
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// saveAddress writes what changed from before to after, in one round trip.
func saveAddress(ctx context.Context, tx pgx.Tx, before, after *registration.Address) error {
	b := &pgx.Batch{}
	if !slices.EqualFunc(before.CodesIssued, after.CodesIssued, time.Time.Equal) {
		issued := after.CodesIssued
		if issued == nil {
			issued = []time.Time{} // the column holds an empty history, never NULL
		}
		b.Queue(`UPDATE address_codes SET issued = $2 WHERE email = $1`, before.Email, issued)
	}
	if err := queueAccount(b, before.Account, after); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("save address: %w", err)
	}
	return nil
}

// queueAccount queues the writes that turn the stored account before into a.Account.
func queueAccount(b *pgx.Batch, before *registration.Account, a *registration.Address) error {
	after := a.Account
	replaced := before != nil && (after == nil || after.User.ID != before.User.ID)
	if replaced {
		// The cascade takes the old account's code with it.
		b.Queue(`DELETE FROM users WHERE id = $1`, before.User.ID)
	}
	switch {
	case after == nil:
		if a.Outgoing != nil {
			return errOrphanEmail
		}
		return nil
	case before == nil || replaced:
		u := after.User
		b.Queue(`INSERT INTO users (id, email, password_hash, status, created_at, activated_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, u.Email, after.PasswordHash, u.Status, u.CreatedAt, u.ActivatedAt)
		return queueCode(b, nil, after, a.Outgoing)
	default:
		if userChanged(before, after) {
			b.Queue(`UPDATE users SET status = $2, activated_at = $3, password_hash = $4 WHERE id = $1`,
				after.User.ID, after.User.Status, after.User.ActivatedAt, after.PasswordHash)
		}
		return queueCode(b, before.Code, after, a.Outgoing)
	}
}

func userChanged(before, after *registration.Account) bool {
	return before.User.Status != after.User.Status ||
		before.PasswordHash != after.PasswordHash ||
		!equalTimePtr(before.User.ActivatedAt, after.User.ActivatedAt)
}

// insertCodeWithMessage commits an outgoing email and the code it carries, linked by
// message_id so that MarkSent can start the code's lifetime. The message is due from the
// code's issue time, the domain's clock.
const insertCodeWithMessage = `WITH message AS (
		INSERT INTO outbox (recipient, payload, key_id, next_attempt_at, created_at)
		VALUES ($5, $6, $7, $3, $3)
		RETURNING id
	)
	INSERT INTO activation_codes (user_id, code_hash, issued_at, attempts, message_id)
	SELECT $1, $2, $3, $4, id FROM message
	ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash,
		issued_at = EXCLUDED.issued_at, sent_at = NULL, attempts = EXCLUDED.attempts,
		message_id = EXCLUDED.message_id`

// queueCode queues the writes that turn the stored code before into acct.Code, committing out
// with it when set.
func queueCode(b *pgx.Batch, before *registration.Code, acct *registration.Account, out *registration.OutgoingEmail) error {
	c, userID := acct.Code, acct.User.ID
	switch {
	case c == nil:
		if out != nil {
			return errOrphanEmail
		}
		if before != nil {
			b.Queue(`DELETE FROM activation_codes WHERE user_id = $1`, userID)
		}
	case out != nil:
		b.Queue(insertCodeWithMessage, userID, c.Hash, c.IssuedAt, c.Attempts, out.Recipient, out.Sealed, out.KeyID)
	case before == nil || !sameCode(before, c):
		b.Queue(`INSERT INTO activation_codes (user_id, code_hash, issued_at, sent_at, attempts)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash,
				issued_at = EXCLUDED.issued_at, sent_at = EXCLUDED.sent_at,
				attempts = EXCLUDED.attempts, message_id = NULL`,
			userID, c.Hash, c.IssuedAt, c.SentAt, c.Attempts)
	case before.Attempts != c.Attempts:
		// Only the count: sent_at belongs to MarkSent, which may have set it meanwhile.
		b.Queue(`UPDATE activation_codes SET attempts = $2 WHERE user_id = $1`, userID, c.Attempts)
	}
	return nil
}

// sameCode reports whether a and b are the same issued code, whatever its attempt count.
func sameCode(a, b *registration.Code) bool {
	return bytes.Equal(a.Hash, b.Hash) && a.IssuedAt.Equal(b.IssuedAt)
}

func equalTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
