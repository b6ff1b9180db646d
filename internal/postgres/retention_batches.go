package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/registration"
)

// liveCode holds for an account u with a code (of any kind) that may still be used or is
// still on its way: not given up on, and either not yet accepted by the provider or accepted
// within the code TTL ($3). Such an account is never deleted, however old. It is a scalar
// subquery, not EXISTS, so that it stays a lookup of the account's primary key range rather
// than becoming a join over all codes.
const liveCode = `coalesce((SELECT bool_or(NOT c.undeliverable AND (c.sent_at IS NULL OR c.sent_at > now() - $3::interval)
		AND (SELECT o.status FROM outbox o WHERE o.id = c.message_id) IS DISTINCT FROM 'dead')
		FROM codes c WHERE c.user_id = u.id), false)`

// lockExpiredPending locks, oldest first, the address records of up to $2 pending accounts
// created before now - $1 whose code is dead, skipping addresses a transaction holds. This is
// the lock the accounts store takes, so no change to these addresses can interleave.
const lockExpiredPending = `SELECT a.email FROM users u JOIN address_codes a ON a.email = u.email
	WHERE u.status = 'pending' AND u.created_at < now() - $1::interval AND NOT ` + liveCode + `
	ORDER BY u.created_at LIMIT $2
	FOR UPDATE OF a SKIP LOCKED`

// deleteExpiredPending deletes the pending accounts of the locked addresses $2 that are still
// expired (it sees everything committed before the locks were granted), with their codes, and
// the address records left with no history in the quota window ($4), and, when $5 is true,
// a user.deleted account event for each (the JSON of registration.Event). The rows are found by
// address alone: the age is written so that no index on created_at applies, and "pending" as
// activated_at IS NULL (users_activation_check makes them one), so that the partial index of
// pending accounts is not walked whole.
var deleteExpiredPending = `WITH gone AS (
		DELETE FROM users u
		WHERE u.email = ANY($2) AND u.activated_at IS NULL AND u.created_at + $1::interval < now()
			AND NOT ` + liveCode + `
		RETURNING u.id, u.email, u.status, u.created_at
	), events AS (
		INSERT INTO outbox (destination, account_id, recipient, payload, key_id, email_kind,
			event_type, next_attempt_at, created_at)
		SELECT 'event', g.id, g.email, convert_to(json_build_object(
				'type', 'user.deleted', 'timestamp', ` + rfc3339UTC("now()") + `,
				'data', json_build_object('id', g.id, 'email', g.email, 'status', g.status,
					'created_at', ` + rfc3339UTC("g.created_at") + `, 'activated_at', NULL))::text, 'UTF8'),
			'\x'::bytea, NULL, 'user.deleted', now(), now()
		FROM gone g WHERE $5::bool
	), addresses AS (
		DELETE FROM address_codes a
		WHERE a.email = ANY(ARRAY(SELECT email FROM gone))
			AND NOT EXISTS (SELECT 1 FROM unnest(a.issued) t WHERE t > now() - $4::interval)
		RETURNING cardinality(a.issued) AS entries
	)
	SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM addresses),
		(SELECT coalesce(sum(entries), 0) FROM addresses)`

// rfc3339UTC is the SQL that formats the timestamptz expression t as Go's time.RFC3339 does in
// UTC, whole seconds.
func rfc3339UTC(t string) string {
	return `to_char(` + t + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
}

// pendingBatch deletes one batch of expired pending accounts and reports whether more may be
// due.
func (r *Retention) pendingBatch(ctx context.Context, conn *pgxpool.Conn) (Removed, bool, error) {
	var removed Removed
	var locked int
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, lockExpiredPending, r.cfg.PendingAccounts, r.cfg.BatchSize, r.cfg.CodeTTL)
		emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(emails) == 0 {
			return err
		}
		locked = len(emails)
		return tx.QueryRow(ctx, deleteExpiredPending, r.cfg.PendingAccounts, emails, r.cfg.CodeTTL,
			registration.QuotaWindow, r.cfg.Events).Scan(&removed.PendingAccounts, &removed.AddressRecords, &removed.HistoryEntries)
	})
	if err != nil {
		return Removed{}, false, fmt.Errorf("delete expired pending accounts: %w", err)
	}
	return removed, locked == r.cfg.BatchSize, nil
}

// Which finished emails an outbox batch deletes, by their state and the time they entered it,
// and whether the codes they carried count as undeliverable.
var (
	outboxSent = finished{`status = 'sent' AND sent_at < now() - $1::interval ORDER BY sent_at`, false}
	outboxDead = finished{`status = 'dead' AND dead_at < now() - $1::interval ORDER BY dead_at`, true}
)

type finished struct {
	where string
	dead  bool
}

// deleteFinishedMessages deletes up to $2 finished emails (selected by the %s clause), oldest
// first, skipping rows a transaction holds. A code still linked to one of them is unlinked,
// and keeps whether its email was given up on ($3). Rows are matched by key (= ANY), so that
// the only plan is a lookup per row.
const deleteFinishedMessages = `WITH doomed AS (
		SELECT id FROM outbox WHERE %s LIMIT $2 FOR UPDATE SKIP LOCKED
	), unlinked AS (
		UPDATE codes c SET message_id = NULL, undeliverable = c.undeliverable OR $3::bool
		WHERE c.message_id = ANY(ARRAY(SELECT id FROM doomed))
	), gone AS (
		DELETE FROM outbox o WHERE o.id = ANY(ARRAY(SELECT id FROM doomed)) RETURNING o.id
	)
	SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM gone)`

// outboxBatch returns the step that deletes one batch of the finished emails selected by which
// and reports whether more may be due.
func (r *Retention) outboxBatch(which finished) batchStep {
	query := fmt.Sprintf(deleteFinishedMessages, which.where)
	return func(ctx context.Context, conn *pgxpool.Conn) (Removed, bool, error) {
		var selected int
		var removed Removed
		err := conn.QueryRow(ctx, query, r.cfg.Outbox, r.cfg.BatchSize, which.dead).Scan(&selected, &removed.OutboxMessages)
		if err != nil {
			return Removed{}, false, fmt.Errorf("delete finished outbox messages: %w", err)
		}
		return removed, selected == r.cfg.BatchSize, nil
	}
}

// cutHistories drops, from up to $2 address records whose oldest issue time left the quota
// window ($1), oldest first, the issue times that no longer count; a record left with no
// history and no account is deleted. Records a transaction holds are skipped. The account
// check is a scalar subquery and the writes match by key (= ANY), so that each stays a lookup
// per record whatever the statistics say.
const cutHistories = `WITH doomed AS (
		SELECT a.email, cardinality(a.issued) AS before,
			ARRAY(SELECT t FROM unnest(a.issued) t WHERE t > now() - $1::interval) AS kept,
			(SELECT true FROM users u WHERE u.email = a.email) IS NOT NULL AS held
		FROM address_codes a
		WHERE a.issued <> '{}' AND a.issued[1] <= now() - $1::interval
		ORDER BY a.issued[1] LIMIT $2
		FOR UPDATE SKIP LOCKED
	), gone AS (
		DELETE FROM address_codes a
		WHERE a.email = ANY(ARRAY(SELECT email FROM doomed WHERE kept = '{}' AND NOT held))
		RETURNING a.email
	), cut AS (
		UPDATE address_codes a SET issued = ARRAY(SELECT t FROM unnest(a.issued) t WHERE t > now() - $1::interval)
		WHERE a.email = ANY(ARRAY(SELECT email FROM doomed WHERE kept <> '{}' OR held))
		RETURNING a.email
	)
	SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM gone),
		(SELECT coalesce(sum(d.before - cardinality(d.kept)), 0) FROM doomed d
			WHERE d.email IN (SELECT email FROM gone UNION ALL SELECT email FROM cut))`

// historyBatch cuts one batch of address histories to the quota window and reports whether
// more may be due.
func (r *Retention) historyBatch(ctx context.Context, conn *pgxpool.Conn) (Removed, bool, error) {
	var selected int
	var removed Removed
	err := conn.QueryRow(ctx, cutHistories, registration.QuotaWindow, r.cfg.BatchSize).
		Scan(&selected, &removed.AddressRecords, &removed.HistoryEntries)
	if err != nil {
		return Removed{}, false, fmt.Errorf("cut address histories: %w", err)
	}
	return removed, selected == r.cfg.BatchSize, nil
}

// IdempotencyWindow is how long the record of a request sent with an Idempotency-Key is kept:
// a retry within it is answered from the record.
const IdempotencyWindow = 24 * time.Hour

// deleteOldIdempotencyKeys deletes up to $2 records older than $1, oldest first, skipping
// records a transaction holds.
const deleteOldIdempotencyKeys = `WITH doomed AS (
		SELECT scope, endpoint, key FROM idempotency_keys WHERE created_at < now() - $1::interval
		ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
	)
	DELETE FROM idempotency_keys i USING doomed d
	WHERE (i.scope, i.endpoint, i.key) = (d.scope, d.endpoint, d.key)`

// idempotencyBatch deletes one batch of day-old idempotency records and reports whether more
// may be due.
func (r *Retention) idempotencyBatch(ctx context.Context, conn *pgxpool.Conn) (Removed, bool, error) {
	tag, err := conn.Exec(ctx, deleteOldIdempotencyKeys, IdempotencyWindow, r.cfg.BatchSize)
	if err != nil {
		return Removed{}, false, fmt.Errorf("delete old idempotency keys: %w", err)
	}
	n := tag.RowsAffected()
	return Removed{IdempotencyKeys: n}, n == int64(r.cfg.BatchSize), nil
}
