package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipelinedTx is a transaction whose BEGIN travels with its first batch and whose COMMIT
// travels with its last: a read-then-write transaction takes two round trips, where
// pgx.BeginFunc takes four (BEGIN, the reads, the writes, COMMIT). Every round trip costs
// both processes a wake-up and a few system calls on the cores the password hash needs.
//
// A statement that fails makes PostgreSQL skip the rest of its batch, the COMMIT included,
// and leaves the transaction aborted; inPipelinedTx then rolls it back. So a batch either
// commits whole or not at all, as in a pgx.Tx. A check made in Go on a statement's result
// cannot stop a COMMIT already sent: commit sends such a batch before the COMMIT.
type pipelinedTx struct {
	conn  *pgx.Conn
	begun bool // BEGIN was queued with a batch
	ended bool // COMMIT succeeded, or ROLLBACK was sent
}

// rollbackTimeout bounds the ROLLBACK after a failure, whose caller's context may be over.
const rollbackTimeout = 5 * time.Second

// inPipelinedTx runs fn in a pipelinedTx on a connection of pool. fn ends the transaction
// with commit or rollback; a transaction fn leaves open (on an error, or a panic) is rolled
// back, and a connection whose rollback fails is closed rather than returned to the pool.
func inPipelinedTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx *pipelinedTx) error) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer pooled.Release()
	tx := &pipelinedTx{conn: pooled.Conn()}
	defer tx.abandon(ctx)
	return fn(tx)
}

// send sends b, with BEGIN ahead of it when it is the transaction's first batch, and
// returns the first error of its statements.
func (t *pipelinedTx) send(ctx context.Context, b *pgx.Batch) error {
	if !t.begun {
		t.begun = true
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)
	}
	return t.conn.SendBatch(ctx, b).Close()
}

// commit sends b with COMMIT after it: the transaction's writes and its end in one round
// trip. A batch with a statement whose result regapi checks itself (a callback that can
// fail, such as a record that must still be unanswered) goes first on its own: PostgreSQL
// would commit past a check it cannot see.
func (t *pipelinedTx) commit(ctx context.Context, b *pgx.Batch) error {
	if checksResults(b) {
		if err := t.send(ctx, b); err != nil {
			return err
		}
		b = &pgx.Batch{}
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		// PostgreSQL answers ROLLBACK to the COMMIT of a transaction that failed before it.
		// Within one batch a failure skips the COMMIT instead, but a commit is never assumed.
		if tag.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err := t.send(ctx, b); err != nil {
		return err
	}
	t.ended = true
	return nil
}

// rollback ends the transaction without writing anything: a transaction that changed
// nothing ends so, and PostgreSQL flushes no commit record for it.
func (t *pipelinedTx) rollback(ctx context.Context) error {
	if !t.begun || t.conn.PgConn().TxStatus() == 'I' {
		t.ended = true
		return nil
	}
	t.ended = true
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

// abandon rolls back a transaction left open. When that fails too, the connection is
// closed: the pool destroys a closed connection, or one still in a transaction, on release.
func (t *pipelinedTx) abandon(ctx context.Context) {
	if t.ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := t.rollback(ctx); err != nil {
		_ = t.conn.Close(ctx)
	}
}

// checksResults reports whether a statement of b has a callback, which may veto the
// transaction after PostgreSQL ran the statement.
func checksResults(b *pgx.Batch) bool {
	for _, q := range b.QueuedQueries {
		if q.Fn != nil {
			return true
		}
	}
	return false
}
