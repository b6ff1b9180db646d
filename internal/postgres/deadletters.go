package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/outbox"
)

// DeadEmails lists the emails given up on, longest dead first: id, recipient, attempts,
// last error and since when. It never reads a payload. It returns a wrapped database error
// when the query fails.
func (o *Outbox) DeadEmails(ctx context.Context) ([]outbox.DeadEmail, error) {
	rows, _ := o.pool.Query(ctx, `SELECT id, recipient, attempts, coalesce(last_error, ''), dead_at
		FROM outbox WHERE status = 'dead' ORDER BY dead_at, id`)
	dead, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.DeadEmail, error) {
		var d outbox.DeadEmail
		err := row.Scan(&d.ID, &d.Recipient, &d.Attempts, &d.LastError, &d.DeadSince)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead emails: %w", err)
	}
	return dead, nil
}

// RetryDead makes each of the dead emails ids pending again, due now, with its idempotency
// key and a fresh attempt count, and wakes the dispatchers. An email whose code is no longer
// its account's current one, or whose account is active or gone, is skipped instead: sending
// it would deliver a dead code as if it were new. It returns one result per id, in order,
// and stops at the first database error, which it returns wrapped with the results so far.
func (o *Outbox) RetryDead(ctx context.Context, ids []int64) ([]outbox.RetryResult, error) {
	results := make([]outbox.RetryResult, 0, len(ids))
	for _, id := range ids {
		r, err := o.retryDead(ctx, id)
		if err != nil {
			return results, fmt.Errorf("retry dead email %d: %w", id, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// RetryAllDead is RetryDead of every email dead when it is called, longest dead first.
func (o *Outbox) RetryAllDead(ctx context.Context) ([]outbox.RetryResult, error) {
	rows, _ := o.pool.Query(ctx, `SELECT id FROM outbox WHERE status = 'dead' ORDER BY dead_at, id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list dead emails: %w", err)
	}
	return o.RetryDead(ctx, ids)
}

// retryDead retries one dead email in a transaction that holds its address, the lock every
// change to an account takes first, so that no resend or activation slips in between the
// check and the retry.
func (o *Outbox) retryDead(ctx context.Context, id int64) (outbox.RetryResult, error) {
	result := outbox.RetryResult{ID: id}
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var recipient string
		err := tx.QueryRow(ctx, `SELECT recipient FROM outbox WHERE id = $1`, id).Scan(&recipient)
		if errors.Is(err, pgx.ErrNoRows) {
			result.Outcome = outbox.NotFound
			return nil
		}
		if err != nil {
			return err
		}
		var dead bool
		var account retryFacts
		b := &pgx.Batch{}
		b.Queue(`SELECT 1 FROM address_codes WHERE email = $1 FOR UPDATE`, recipient)
		b.Queue(`SELECT status = 'dead' FROM outbox WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
			return row.Scan(&dead)
		})
		b.Queue(`SELECT u.status = 'active', c.message_id = $2 FROM users u
			LEFT JOIN activation_codes c ON c.user_id = u.id WHERE u.email = $1`, recipient, id).Query(func(rows pgx.Rows) error {
			return scanAccountFacts(rows, &account)
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		result.Outcome, result.Reason = retryVerdict(dead, account)
		if result.Outcome != outbox.Retried {
			return nil
		}
		b = &pgx.Batch{}
		b.Queue(`UPDATE outbox SET status = 'pending', attempts = 0, dead_at = NULL,
			next_attempt_at = now(), retried_at = NULL WHERE id = $1`, id)
		b.Queue(`SELECT pg_notify($1, '')`, notifyChannel) // sent at commit
		return tx.SendBatch(ctx, b).Close()
	})
	return result, err
}

// retryFacts is what the account of a dead email's recipient says about sending it again.
type retryFacts struct {
	exists  bool // its recipient has an account
	active  bool // that account is active
	current bool // the account's current code is the one this email carries
}

func scanAccountFacts(rows pgx.Rows, f *retryFacts) error {
	defer rows.Close()
	if rows.Next() {
		var current *bool
		if err := rows.Scan(&f.active, &current); err != nil {
			return err
		}
		f.exists, f.current = true, current != nil && *current
	}
	return rows.Err()
}

// retryVerdict says whether a dead email with the facts of its account may be sent again.
func retryVerdict(dead bool, account retryFacts) (outbox.RetryOutcome, string) {
	switch {
	case !dead:
		return outbox.Skipped, outbox.SkipNotDead
	case !account.exists:
		return outbox.Skipped, outbox.SkipAccountGone
	case account.active:
		return outbox.Skipped, outbox.SkipActive
	case !account.current:
		return outbox.Skipped, outbox.SkipCodeReplaced
	}
	return outbox.Retried, ""
}
