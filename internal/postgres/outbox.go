package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
)

// Outbox is the PostgreSQL implementation of outbox.Store, with the outbox's statistics and
// its dead letters. Every time it writes is the database's clock (now()), never a process's.
//
// Each statement is shaped so that its only sensible plan is a lookup by key, whatever the
// planner's statistics say: the outbox is a queue, and statistics taken while few messages
// were pending (or many) are wrong an hour later. Claims read their partial index in order,
// one range per key id, and stop at the limit; marks find their rows by primary key. The
// plans are checked against deliberately stale statistics (plans_test.go).
type Outbox struct {
	pool *pgxpool.Pool
}

var _ outbox.Store = (*Outbox)(nil)

// NewOutbox returns the outbox of the database behind pool, whose schema must be migrated.
// Its MarkSent records each delivery on its own; a dispatcher's store is a BatchedOutbox.
func NewOutbox(pool *pgxpool.Pool) *Outbox {
	return &Outbox{pool: pool}
}

// claimSQL leases due messages. $1 are the key ids, $2 the lease, $3 the limit. For each key
// id, the lateral subquery walks outbox_due_idx from the soonest due message and stops after
// $3 rows: a plan that reads more cannot be cheaper, whatever the statistics. SKIP LOCKED
// lets concurrent claimers pass over each other's rows instead of queueing on them. An account
// event waits while an earlier event of its account is pending (in flight, or waiting for a
// retry), so that each account's events go out in order; a lookup of outbox_event_order_idx
// tells, and events of other accounts are not held up. A row
// another claimer committed meanwhile is re-checked and dropped, since its next_attempt_at
// moved past now(). The lease is next_attempt_at itself, so an expired lease needs no sweeper.
// %s is the due condition: due now, or also waiting for a retry since $4.
const claimSQL = `WITH due AS (
		SELECT d.id, d.next_attempt_at FROM unnest($1::bytea[]) AS k(key_id)
		CROSS JOIN LATERAL (
			SELECT id, next_attempt_at FROM outbox q
			WHERE status = 'pending' AND key_id = k.key_id AND %s
				AND (q.account_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p
					WHERE p.account_id = q.account_id AND p.status = 'pending' AND p.id < q.id))
			ORDER BY next_attempt_at
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		) d
		ORDER BY d.next_attempt_at
		LIMIT $3
	)
	UPDATE outbox o SET next_attempt_at = now() + $2::interval, attempts = o.attempts + 1,
		retried_at = NULL
	WHERE o.id = ANY(ARRAY(SELECT id FROM due))
	RETURNING o.id, o.idempotency_key::text, o.payload, o.key_id, o.attempts, o.created_at,
		coalesce(o.event_type, ''), ` + supersededSQL

// supersededSQL says why the code an outbox row o carries is no longer live, or is empty when
// it is (or the email carries none): a code is live while its row still links to the email that
// carries it. A newer code of its kind relinks the row; using the code, or activating the
// account, deletes it; deleting the account deletes the email too.
const supersededSQL = `CASE
		WHEN o.destination = 'event'
			OR o.email_kind NOT IN ('activation_code', 'password_reset_code', 'email_change_code')
			OR EXISTS (SELECT 1 FROM codes c WHERE c.message_id = o.id) THEN ''
		WHEN EXISTS (SELECT 1 FROM codes c WHERE c.user_id = o.user_id AND c.kind = left(o.email_kind, -5))
			THEN '` + outbox.DropSuperseded + `'
		ELSE '` + outbox.DropSpent + `' END`

var (
	claimDue     = fmt.Sprintf(claimSQL, `next_attempt_at <= now()`)
	claimWaiting = fmt.Sprintf(claimSQL, `(next_attempt_at <= now() OR retried_at <= now() - $4::interval)`)
)

// Claim implements outbox.Store: it leases up to limit messages sealed under any of keyIDs
// and due by the database's clock, for lease from now(), counting one attempt on each, and
// returns them by id. It returns a wrapped database error when the query fails.
func (o *Outbox) Claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int) ([]outbox.Message, error) {
	return o.claim(ctx, claimDue, keyIDs, lease, limit)
}

// ClaimWaiting implements outbox.Store: it is Claim, but it also takes messages whose last
// attempt failed at least minWait ago and that wait for a retry not due yet, never one a
// claimer holds. It returns a wrapped database error when the query fails.
func (o *Outbox) ClaimWaiting(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]outbox.Message, error) {
	return o.claim(ctx, claimWaiting, keyIDs, lease, limit, minWait)
}

func (o *Outbox) claim(ctx context.Context, query string, keyIDs [][]byte, lease time.Duration, limit int, more ...any) ([]outbox.Message, error) {
	if limit <= 0 || len(keyIDs) == 0 {
		return nil, nil
	}
	rows, _ := o.pool.Query(ctx, query, append([]any{keyIDs, lease, limit}, more...)...)
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.Message, error) {
		var m outbox.Message
		err := row.Scan(&m.ID, &m.IdempotencyKey, &m.Payload, &m.KeyID, &m.Attempt, &m.CreatedAt, &m.EventType, &m.Stale)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox messages: %w", err)
	}
	slices.SortFunc(msgs, func(a, b outbox.Message) int { return cmp.Compare(a.ID, b.ID) })
	return msgs, nil
}

// dropStale deletes a claimed email whose code is still not live, unless it was claimed
// again since.
const dropStale = `DELETE FROM outbox o WHERE o.id = $1 AND o.attempts = $2 AND o.status = 'pending'
	AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.message_id = o.id)`

// Drop implements outbox.Store: it deletes message id, claimed for attempt attempt, whose code
// is no longer live, unless it was claimed again since or its code became live again. It
// returns a wrapped database error when the delete fails.
func (o *Outbox) Drop(ctx context.Context, id int64, attempt int) error {
	if _, err := o.pool.Exec(ctx, dropStale, id, attempt); err != nil {
		return fmt.Errorf("drop outbox message %d: %w", id, err)
	}
	return nil
}

// markRetry and markDead find their one row by primary key: an equality on a unique key is
// the cheapest plan there is, whatever the statistics.
const (
	markRetry = `UPDATE outbox SET next_attempt_at = now() + $3::interval, last_error = $4,
		retried_at = CASE WHEN $5 THEN NULL ELSE now() END
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`
	markDead = `UPDATE outbox SET status = 'dead', dead_at = now(), last_error = $3
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`
)

// MarkRetry implements outbox.Store: it makes message id due again delay after now(),
// recording reason, unless the message was claimed again since attempt attempt or is no
// longer pending. It returns a wrapped database error when the update fails.
func (o *Outbox) MarkRetry(ctx context.Context, id int64, attempt int, delay time.Duration, reason string, asked bool) error {
	_, err := o.pool.Exec(ctx, markRetry, id, attempt, delay, errorText(reason), asked)
	if err != nil {
		return fmt.Errorf("reschedule outbox message %d: %w", id, err)
	}
	return nil
}

// MarkDead implements outbox.Store: it gives up on message id as of now(), recording reason,
// under the same staleness rule as MarkRetry. The code the message carries then counts as
// undeliverable. It returns a wrapped database error when the update fails.
func (o *Outbox) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	_, err := o.pool.Exec(ctx, markDead, id, attempt, errorText(reason))
	if err != nil {
		return fmt.Errorf("mark outbox message %d dead: %w", id, err)
	}
	return nil
}

// maxErrorText bounds the failure reason kept per message; provider error bodies can be large.
const maxErrorText = 1024

// errorText makes reason storable as PostgreSQL text: bounded, valid UTF-8, without NUL bytes.
func errorText(reason string) string {
	if len(reason) > maxErrorText {
		reason = reason[:maxErrorText]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(reason, "\x00", ""), "")
}
