package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// markTimeout bounds one statement that records deliveries.
const markTimeout = 5 * time.Second

// markSentBatch records deliveries as of now() and starts the lifetimes of the codes the
// messages carry, in one statement for any number of messages. A code replaced since is
// linked to another message and stays untouched; a message no longer pending (sent already,
// or dead) too. The rows are found by primary key only: "pending" is written as "neither
// sent nor dead", a condition that no index on status can serve, so no plan can walk the
// pending set instead, however few pending rows the statistics promise.
const markSentBatch = `WITH sent AS (
		UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL
		WHERE id = ANY($1::bigint[]) AND status <> ALL ('{sent,dead}'::text[])
		RETURNING id
	)
	UPDATE codes SET sent_at = now()
	WHERE message_id = ANY(ARRAY(SELECT id FROM sent)) AND sent_at IS NULL`

// BatchedOutbox is the Outbox a dispatcher uses: while its owner runs Run, concurrent
// MarkSent calls merge, and while one statement records some deliveries, the ones that come
// meanwhile queue up and go together in the next. One delivery alone is recorded at once;
// under load a statement, and a commit, serves many.
type BatchedOutbox struct {
	*Outbox
	mu      sync.Mutex
	queue   []sentMark
	running bool          // Run is recording the queue
	queued  chan struct{} // wakes Run when the queue was empty
}

type sentMark struct {
	id   int64
	done chan error
}

// NewBatchedOutbox returns the batching outbox of the database behind pool.
func NewBatchedOutbox(pool *pgxpool.Pool) *BatchedOutbox {
	return &BatchedOutbox{Outbox: NewOutbox(pool), queued: make(chan struct{}, 1)}
}

// MarkSent implements outbox.Store: it marks message id sent as of now() and starts the
// lifetime of the code it carries. A message no longer pending (sent already, or dead) is
// left as it is. It returns a wrapped database error when the update fails.
func (o *Outbox) MarkSent(ctx context.Context, id int64) error {
	return o.recordSent(ctx, []int64{id})
}

// MarkSent is Outbox.MarkSent, in a batch while Run runs and on its own otherwise. It
// returns ctx's error when ctx ends first (the mark may then still be recorded, which is
// harmless).
func (o *BatchedOutbox) MarkSent(ctx context.Context, id int64) error {
	m := sentMark{id: id, done: make(chan error, 1)}
	o.mu.Lock()
	if !o.running {
		o.mu.Unlock()
		return o.recordSent(ctx, []int64{id})
	}
	o.queue = append(o.queue, m)
	o.mu.Unlock()
	select {
	case o.queued <- struct{}{}:
	default: // Run is already due to look at the queue
	}
	select {
	case err := <-m.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("mark outbox message %d sent: %w", id, ctx.Err())
	}
}

// Run records the marks of concurrent MarkSent calls in batches until ctx is cancelled.
// Then it records what is queued and returns nil; later MarkSent calls record their marks
// one by one, so that the sends a stopping dispatcher finishes are still recorded. One Run
// at a time.
func (o *BatchedOutbox) Run(ctx context.Context) error {
	o.mu.Lock()
	o.running = true
	o.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
		case <-o.queued:
		}
		batch, last := o.takeSent(ctx.Err() != nil)
		if len(batch) > 0 {
			// A batch serves many callers: it must not end with any one of them, nor with ctx
			// (the marks of a stopping dispatcher come in after it); markTimeout bounds it.
			err := o.recordSent(context.WithoutCancel(ctx), idsOf(batch))
			for _, m := range batch {
				m.done <- err
			}
		}
		if last {
			return nil
		}
	}
}

// takeSent empties the queue. When stopping it also hands the queue back to the callers,
// and reports that this batch is the last.
func (o *BatchedOutbox) takeSent(stopping bool) (batch []sentMark, last bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	batch, o.queue = o.queue, nil
	if stopping {
		o.running = false
	}
	return batch, stopping
}

func idsOf(batch []sentMark) []int64 {
	ids := make([]int64, len(batch))
	for i, m := range batch {
		ids[i] = m.id
	}
	return ids
}

// recordSent runs markSentBatch for ids within markTimeout.
func (o *Outbox) recordSent(ctx context.Context, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	if _, err := o.pool.Exec(ctx, markSentBatch, ids); err != nil {
		if len(ids) == 1 {
			return fmt.Errorf("mark outbox message %d sent: %w", ids[0], err)
		}
		return fmt.Errorf("mark %d outbox messages sent: %w", len(ids), err)
	}
	return nil
}
