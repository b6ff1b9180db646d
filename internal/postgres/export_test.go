package postgres

import "context"

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
