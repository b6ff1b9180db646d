package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regapi/regapi/internal/outbox"
)

// claimDue leases due messages. SKIP LOCKED lets concurrent claimers pass over each other's
// rows instead of queueing on them; a row another claimer committed meanwhile is re-checked
// against the WHERE clause and dropped, since its next_attempt_at moved past $1. The lease is
// next_attempt_at itself, so an expired lease needs no sweeper.
const claimDue = `WITH due AS (
		SELECT id FROM outbox
		WHERE status = 'pending' AND key_id = $4 AND next_attempt_at <= $1
		ORDER BY next_attempt_at
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	)
	UPDATE outbox o SET next_attempt_at = $2, attempts = o.attempts + 1
	FROM due WHERE o.id = due.id
	RETURNING o.id, o.idempotency_key::text, o.payload, o.attempts, o.created_at`

// Claim implements outbox.Store: it leases up to limit messages sealed under keyID and due at
// now until now+lease, counting one attempt on each, and returns them oldest first. It returns a wrapped database
// error when the query fails.
func (s *Store) Claim(ctx context.Context, keyID []byte, now time.Time, lease time.Duration, limit int) ([]outbox.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	leaseUntil := now.Add(lease)
	rows, _ := s.pool.Query(ctx, claimDue, now, leaseUntil, limit, keyID)
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.Message, error) {
		m := outbox.Message{LeaseUntil: leaseUntil}
		err := row.Scan(&m.ID, &m.IdempotencyKey, &m.Payload, &m.Attempt, &m.CreatedAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox messages: %w", err)
	}
	slices.SortFunc(msgs, func(a, b outbox.Message) int { return cmp.Compare(a.ID, b.ID) })
	return msgs, nil
}

// MarkRetry implements outbox.Store: it makes message id due again at retryAt, recording
// reason, unless the message was claimed again since attempt attempt or is no longer pending.
// It returns a wrapped database error when the update fails.
func (s *Store) MarkRetry(ctx context.Context, id int64, attempt int, retryAt time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = $3, last_error = $4
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, retryAt, errorText(reason))
	if err != nil {
		return fmt.Errorf("reschedule outbox message %d: %w", id, err)
	}
	return nil
}

// MarkDead implements outbox.Store: it gives up on message id at at, recording reason, under
// the same staleness rule as MarkRetry. The code the message carries then counts as
// undeliverable. It returns a wrapped database error when the update fails.
func (s *Store) MarkDead(ctx context.Context, id int64, attempt int, at time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'dead', dead_at = $3, last_error = $4
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, at, errorText(reason))
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

// OutboxStats describes the outbox for metrics.
type OutboxStats struct {
	// Pending counts messages not yet delivered nor given up on.
	Pending int
	// OldestPending is when the oldest pending message was committed; zero when none is.
	OldestPending time.Time
	// Dead counts messages given up on.
	Dead int
}

// OutboxStats returns the current state of the outbox, or a wrapped database error.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest *time.Time
	// Each part is read from a partial index, so delivered history does not slow metrics down.
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM outbox WHERE status = 'pending'),
			(SELECT min(created_at) FROM outbox WHERE status = 'pending'),
			(SELECT count(*) FROM outbox WHERE status = 'dead')`).Scan(&st.Pending, &oldest, &st.Dead)
	if err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest != nil {
		st.OldestPending = *oldest
	}
	return st, nil
}
