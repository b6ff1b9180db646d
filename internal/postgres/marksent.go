package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// markTimeout bounds one statement that records deliveries.
const markTimeout = 5 * time.Second

// markSentBatch records deliveries and starts the lifetimes of the codes the messages carry,
// in one statement for any number of messages. A code replaced since is linked to another
// message and stays untouched; a message no longer pending (sent already, or dead) too.
const markSentBatch = `WITH marks AS (
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[]) AS m(id, at)
	), sent AS (
		UPDATE outbox o SET status = 'sent', sent_at = marks.at, last_error = NULL
		FROM marks WHERE o.id = marks.id AND o.status = 'pending'
		RETURNING o.id, o.sent_at
	)
	UPDATE activation_codes c SET sent_at = sent.sent_at
	FROM sent WHERE c.message_id = sent.id AND c.sent_at IS NULL`

// sentMarks merges concurrent MarkSent calls: while one statement records some deliveries,
// the ones that come meanwhile queue up and go together in the next. One delivery alone is
// recorded at once; under load a statement, and a commit, serves many.
type sentMarks struct {
	mu      sync.Mutex
	queue   []sentMark
	running bool // a goroutine is recording the queue
}

type sentMark struct {
	id   int64
	at   time.Time
	done chan error
}

// MarkSent implements outbox.Store: it marks message id sent at at and starts the lifetime of
// the activation code it carries. A message no longer pending (sent already, or dead) is left
// as it is. It returns a wrapped database error when the update fails, or ctx's error when
// ctx ends first (the mark may then still be recorded, which is harmless).
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	m := sentMark{id: id, at: at, done: make(chan error, 1)}
	s.sent.mu.Lock()
	s.sent.queue = append(s.sent.queue, m)
	start := !s.sent.running
	s.sent.running = true
	s.sent.mu.Unlock()
	if start {
		// #nosec G118 -- the batch serves many callers, so it must not die with this one's
		// context; each statement has its own markTimeout.
		go s.recordSent()
	}
	select {
	case err := <-m.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("mark outbox message %d sent: %w", id, ctx.Err())
	}
}

// recordSent records the queued marks, batch after batch, until none is left.
func (s *Store) recordSent() {
	for {
		s.sent.mu.Lock()
		batch := s.sent.queue
		s.sent.queue = nil
		if len(batch) == 0 {
			s.sent.running = false
			s.sent.mu.Unlock()
			return
		}
		s.sent.mu.Unlock()
		ids, ats := make([]int64, len(batch)), make([]time.Time, len(batch))
		for i, m := range batch {
			ids[i], ats[i] = m.id, m.at
		}
		ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
		_, err := s.pool.Exec(ctx, markSentBatch, ids, ats)
		cancel()
		for _, m := range batch {
			if err != nil {
				m.done <- fmt.Errorf("mark outbox message %d sent: %w", m.id, err)
			} else {
				m.done <- nil
			}
		}
	}
}
