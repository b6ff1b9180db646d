package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/registration"
)

// IdempotencyKeys keeps the records of requests sent with an Idempotency-Key. A request
// reserves its record before it is processed; its effect's transaction gives the record its
// answer (registration.ReceiptRecorded); a request that took no effect releases it.
type IdempotencyKeys struct {
	pool *pgxpool.Pool
}

// NewIdempotencyKeys returns the records of the database behind pool, whose schema must be
// migrated.
func NewIdempotencyKeys(pool *pgxpool.Pool) *IdempotencyKeys { return &IdempotencyKeys{pool: pool} }

// reserve takes the record, new or abandoned: one whose holder let hold pass without an
// answer (it died, or its request took no effect and was not released).
const reserve = `INSERT INTO idempotency_keys (scope, endpoint, key, request_hash, locked_until, created_at)
	VALUES ($1, $2, $3, $4, now() + $5::interval, now())
	ON CONFLICT (scope, endpoint, key) DO UPDATE
		SET request_hash = EXCLUDED.request_hash, locked_until = EXCLUDED.locked_until, created_at = now()
		WHERE idempotency_keys.answer IS NULL AND idempotency_keys.locked_until < now()
	RETURNING true`

// Reserve reserves the record of the request (scope, endpoint, key) whose body hashes to
// hash, for hold, and reports reserved; or it returns the hash and answer of the record
// another attempt holds (answer nil) or answered. Neither is set when the holder released
// the record a moment ago. It returns a wrapped database error, registration.ErrUnavailable
// among them.
func (k *IdempotencyKeys) Reserve(ctx context.Context, scope, endpoint, key string, hash []byte, hold time.Duration) (reserved bool, storedHash, answer []byte, err error) {
	err = k.pool.QueryRow(ctx, reserve, scope, endpoint, key, hash, hold).Scan(&reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		err = k.pool.QueryRow(ctx, `SELECT request_hash, answer FROM idempotency_keys
			WHERE scope = $1 AND endpoint = $2 AND key = $3`, scope, endpoint, key).Scan(&storedHash, &answer)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil, nil, nil
		}
	}
	if err != nil {
		return false, nil, nil, storeError("reserve idempotency key", err)
	}
	return reserved, storedHash, answer, nil
}

// Release gives up the reservation of a request that took no effect, so that a retry is
// processed anew. A record that has its answer stays.
func (k *IdempotencyKeys) Release(ctx context.Context, scope, endpoint, key string) error {
	_, err := k.pool.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE scope = $1 AND endpoint = $2 AND key = $3 AND answer IS NULL`, scope, endpoint, key)
	if err != nil {
		return storeError("release idempotency key", err)
	}
	return nil
}

// errReceiptTaken rolls back an effect whose request was answered by another attempt first.
var errReceiptTaken = registration.ErrRequestAnswered

// recordAnswer gives the reserved record its answer, in the effect's transaction. A record
// answered already (another attempt got there first, after this one's reservation lapsed)
// returns no row: the effect must not commit twice.
const recordAnswer = `UPDATE idempotency_keys SET answer = $4
	WHERE scope = $1 AND endpoint = $2 AND key = $3 AND answer IS NULL
	RETURNING true`

// queueRecordAnswer queues recordAnswer, failing the batch with errReceiptTaken when the
// record has its answer already.
func queueRecordAnswer(b *pgx.Batch, scope, endpoint, key string, answer []byte) {
	b.Queue(recordAnswer, scope, endpoint, key, answer).QueryRow(func(row pgx.Row) error {
		var ok bool
		if err := row.Scan(&ok); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record answer: %w", errReceiptTaken)
		} else if err != nil {
			return err
		}
		return nil
	})
}
