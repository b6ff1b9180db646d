package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
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

// retryDead retries one dead email in a transaction that holds the address of its account,
// the lock every change to an account takes first, so that no resend, use of a code or
// deletion slips in between the check and the retry.
func (o *Outbox) retryDead(ctx context.Context, id int64) (outbox.RetryResult, error) {
	result := outbox.RetryResult{ID: id}
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var facts retryFacts
		b := &pgx.Batch{}
		b.Queue(`SELECT 1 FROM address_codes a JOIN users u ON u.email = a.email
			JOIN outbox o ON o.user_id = u.id WHERE o.id = $1 FOR UPDATE OF a`, id)
		b.Queue(`SELECT o.status = 'dead', o.destination = 'event', coalesce(o.email_kind, ''), u.status = 'active',
				EXISTS (SELECT 1 FROM codes c WHERE c.user_id = u.id AND c.message_id = o.id)
			FROM outbox o LEFT JOIN users u ON u.id = o.user_id WHERE o.id = $1 FOR UPDATE OF o`,
			id).Query(func(rows pgx.Rows) error { return scanRetryFacts(rows, &facts) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		result.Outcome, result.Reason = retryVerdict(facts)
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

// retryFacts is what the outbox and the account say about sending a dead email again.
type retryFacts struct {
	found   bool                   // the email exists
	dead    bool                   // it is dead
	event   bool                   // it is an account event, which needs no account
	kind    registration.EmailKind // what it is
	exists  bool                   // its account exists
	active  bool                   // that account is active
	current bool                   // the email carries a live code of the account
}

func scanRetryFacts(rows pgx.Rows, f *retryFacts) error {
	defer rows.Close()
	if rows.Next() {
		var active *bool
		if err := rows.Scan(&f.dead, &f.event, &f.kind, &active, &f.current); err != nil {
			return err
		}
		f.found, f.exists, f.active = true, active != nil, active != nil && *active
	}
	return rows.Err()
}

// retryVerdict says whether a dead email with facts may be sent again: a code that is no
// longer live must not reach the user as if it were new.
func retryVerdict(f retryFacts) (outbox.RetryOutcome, string) {
	switch {
	case !f.found:
		return outbox.NotFound, ""
	case !f.dead:
		return outbox.Skipped, outbox.SkipNotDead
	case f.event:
		return outbox.Retried, ""
	case !f.exists:
		return outbox.Skipped, outbox.SkipAccountGone
	case f.kind == registration.EmailActivationCode && f.active:
		return outbox.Skipped, outbox.SkipActive
	case f.kind.CarriesCode() && !f.current:
		return outbox.Skipped, outbox.SkipCodeReplaced
	}
	return outbox.Retried, ""
}
