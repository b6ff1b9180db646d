package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// TestEventClaimStaysAKeyLookup: with a large backlog of account events, three per account
// (as after a receiver outage), a claim walks the due index and, per candidate, looks up the
// account's earlier pending events in outbox_event_order_idx: the rows it touches grow with
// its limit, never with the backlog. PLAN_EVENTS sets the backlog (default 150,000 events;
// 1,000,000 to reproduce the figure in BENCHMARKS.md).
func TestEventClaimStaysAKeyLookup(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a large backlog")
	}
	t.Parallel()
	events := 150000
	if v, err := strconv.Atoi(os.Getenv("PLAN_EVENTS")); err == nil && v > 0 {
		events = v
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	load := fmt.Sprintf(`INSERT INTO outbox (destination, account_id, recipient, payload, key_id,
			email_kind, event_type, next_attempt_at, created_at)
		SELECT 'event', md5('account' || (i / 3))::uuid, 'a' || (i / 3) || '@example.com', '{}', '\x',
			NULL, 'user.created', now() - interval '1 minute', now()
		FROM generate_series(0, %d - 1) i`, events)
	for _, sql := range []string{load, `ANALYZE outbox`} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	keys := [][]byte{[]byte("current-key"), outbox.EventKeyID}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		plan := explain(t, pool, mode, postgres.OutboxStatements["claim"], keys, "30 seconds", 16)
		claimed := 0.0
		plan.walk(func(n planNode) {
			if n.ActualLoops == 0 {
				return // planned, never run: the stale-code check of an email
			}
			if n.NodeType == "Hash Join" || n.NodeType == "Merge Join" || (n.NodeType == "Seq Scan" && n.Relation != "") {
				t.Errorf("claim (%s): %s on %s; want key lookups only:\n%s", mode, n.NodeType, n.Relation, plan)
			}
			// Two of every three due events wait for an earlier one: the walk reads about
			// three candidates per claimed event.
			if rows := n.ActualRows * max(n.ActualLoops, 1); rows > 3*16*2 {
				t.Errorf("claim (%s): %s %s produced %.0f rows:\n%s", mode, n.NodeType, n.Relation, rows, plan)
			}
			if n.NodeType == "ModifyTable" {
				claimed = n.ActualRows
			}
		})
		if claimed != 16 {
			t.Errorf("claim (%s): claimed %.0f events, want 16 (one per account):\n%s", mode, claimed, plan)
		}
		t.Logf("claim over %d queued events (%s): %d buffers", events, mode, plan.SharedHit+plan.SharedRead)
	}
}
