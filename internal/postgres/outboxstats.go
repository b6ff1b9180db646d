package postgres

import (
	"context"
	"fmt"
	"time"
)

// OutboxStats describes the outbox for metrics.
type OutboxStats struct {
	// Pending counts messages not yet delivered nor given up on.
	Pending int
	// OldestPending is when the oldest pending message was committed; zero when none is.
	OldestPending time.Time
	// Dead counts messages given up on.
	Dead int
	// OldestPendingEvent is when the oldest undelivered account event was committed; zero
	// when none is.
	OldestPendingEvent time.Time
}

// outboxStats reads each part from a partial index, so that delivered history does not slow
// metrics down.
const outboxStats = `SELECT
		(SELECT count(*) FROM outbox WHERE status = 'pending'),
		(SELECT min(created_at) FROM outbox WHERE status = 'pending'),
		(SELECT count(*) FROM outbox WHERE status = 'dead'),
		(SELECT min(created_at) FROM outbox WHERE status = 'pending' AND account_id IS NOT NULL)`

// OutboxStats returns the current state of the outbox, or a wrapped database error.
func (o *Outbox) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest, oldestEvent *time.Time
	err := o.pool.QueryRow(ctx, outboxStats).Scan(&st.Pending, &oldest, &st.Dead, &oldestEvent)
	if err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest != nil {
		st.OldestPending = *oldest
	}
	if oldestEvent != nil {
		st.OldestPendingEvent = *oldestEvent
	}
	return st, nil
}
