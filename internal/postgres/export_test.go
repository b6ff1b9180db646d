package postgres

import (
	"context"
	"fmt"

	"github.com/regapi/regapi/internal/registration"
)

// FirstBatches runs one batch of each retention rule, in RunOnce's order, and returns what
// each removed and whether it reported more due.
func (r *Retention) FirstBatches(ctx context.Context) ([]Removed, []bool, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	var removed []Removed
	var more []bool
	for _, step := range r.steps() {
		rm, m, err := step(ctx, conn)
		if err != nil {
			return nil, nil, err
		}
		removed, more = append(removed, rm), append(more, m)
	}
	return removed, more, nil
}

// RetentionStatements lists the retention statements with arguments for r's settings: the
// pending accounts' delete takes the addresses its lock statement returned.
func (r *Retention) RetentionStatements(lockedEmails []string) map[string][]any {
	return map[string][]any{
		cutHistories:         {registration.QuotaWindow, r.cfg.BatchSize},
		lockExpiredPending:   {r.cfg.PendingAccounts, r.cfg.BatchSize, r.cfg.CodeTTL},
		deleteExpiredPending: {r.cfg.PendingAccounts, lockedEmails, r.cfg.CodeTTL, registration.QuotaWindow},
		fmt.Sprintf(deleteFinishedMessages, outboxSent.where): {r.cfg.Outbox, r.cfg.BatchSize, false},
		fmt.Sprintf(deleteFinishedMessages, outboxDead.where): {r.cfg.Outbox, r.cfg.BatchSize, true},
	}
}

// LockExpiredPending is the statement that locks the addresses of expired pending accounts.
const LockExpiredPending = lockExpiredPending
