package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
)

// The outbox statements must keep their key-lookup plans whatever the planner's statistics
// say. This test gives the planner statistics taken while few emails were pending, then loads
// a large backlog, as after a provider outage: the statistics now promise a handful of pending
// rows where tens of thousands are, which made the old mark-sent statement hash-join over all
// of them on every call.

const (
	staleSent    = 20000 // delivered history when the statistics are taken
	stalePending = 20000 // backlog loaded after them
)

// planNode is a node of EXPLAIN (ANALYZE, FORMAT JSON) output.
type planNode struct {
	NodeType    string     `json:"Node Type"`
	Relation    string     `json:"Relation Name"`
	Index       string     `json:"Index Name"`
	ActualRows  float64    `json:"Actual Rows"`
	ActualLoops float64    `json:"Actual Loops"`
	SharedHit   int        `json:"Shared Hit Blocks"`
	SharedRead  int        `json:"Shared Read Blocks"`
	Plans       []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

func (n planNode) String() string {
	var b strings.Builder
	var write func(planNode, int)
	write = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s %s %s rows=%.0f loops=%.0f\n", strings.Repeat("  ", depth), n.NodeType, n.Relation, n.Index, n.ActualRows, n.ActualLoops)
		for _, c := range n.Plans {
			write(c, depth+1)
		}
	}
	write(n, 0)
	return b.String()
}

// loadStaleOutbox fills a fresh database as described above and returns its pool. With
// drained, the statistics are taken again with the backlog pending, and then all but 100 of
// it is delivered and vacuumed away: the statistics now promise half the table pending where
// almost none is.
func loadStaleOutbox(t *testing.T, drained bool) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	load := func(from, n int, status string) string {
		return fmt.Sprintf(`
			INSERT INTO address_codes (email) SELECT 'u' || i || '@example.com' FROM generate_series(%[1]d, %[1]d + %[2]d - 1) i;
			INSERT INTO users (id, email, password_hash, status, created_at)
				SELECT gen_random_uuid(), 'u' || i || '@example.com', 'x', 'pending', now() FROM generate_series(%[1]d, %[1]d + %[2]d - 1) i;
			INSERT INTO outbox (recipient, payload, key_id, status, next_attempt_at, created_at, sent_at)
				SELECT 'u' || i || '@example.com', 'sealed', 'current-key', '%[3]s', now() - interval '1 minute', now(),
					CASE WHEN '%[3]s' = 'sent' THEN now() END
				FROM generate_series(%[1]d, %[1]d + %[2]d - 1) i;
			INSERT INTO codes (user_id, code_hash, issued_at, message_id)
				SELECT u.id, 'hash', now(), o.id FROM users u JOIN outbox o ON o.recipient = u.email
				WHERE u.email LIKE 'u%%' AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.user_id = u.id);`,
			from, n, status)
	}
	steps := []string{
		`ALTER TABLE outbox SET (autovacuum_enabled = false);
		 ALTER TABLE codes SET (autovacuum_enabled = false);
		 ALTER TABLE users SET (autovacuum_enabled = false)`,
		load(1, staleSent, "sent"),
		load(staleSent+1, 10, "pending"),
		`ANALYZE`,
		load(staleSent+11, stalePending, "pending"),
	}
	if drained {
		// The vacuum leaves the column statistics as they were: only an analyze renews them.
		steps = append(steps, `ANALYZE`, fmt.Sprintf(`UPDATE outbox SET status = 'sent', sent_at = now()
			WHERE status = 'pending' AND id > %d`, staleSent+100), `VACUUM outbox`)
	}
	for _, sql := range steps {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	return pool
}

// explain runs sql with args under EXPLAIN ANALYZE in a transaction it rolls back, with the
// plan built for these arguments (custom) or for any (generic), and returns the plan.
func explain(t testing.TB, pool *pgxpool.Pool, mode, sql string, args ...any) planNode {
	t.Helper()
	ctx := context.Background()
	var plan []struct{ Plan planNode }
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
			return err
		}
		// A prepared statement outlives the transaction: name it for this call, and drop it.
		name := fmt.Sprintf("explained_%d", explained.Add(1))
		if _, err := tx.Exec(ctx, "PREPARE "+name+" AS "+sql); err != nil {
			return err
		}
		defer func() { _, _ = pool.Exec(ctx, "DEALLOCATE "+name) }()
		literals := make([]string, len(args))
		for i, a := range args {
			literals[i] = literal(a)
		}
		execute := "EXECUTE " + name
		if len(literals) > 0 {
			execute += "(" + strings.Join(literals, ", ") + ")"
		}
		var out []byte
		err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+execute).Scan(&out)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(out, &plan); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("explain %s: %v", sql, err)
	}
	return plan[0].Plan
}

// explained numbers the statements explain prepares.
var explained atomic.Int64

// literal writes v as SQL, for EXECUTE, which takes no parameters.
func literal(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case []int64:
		return "'{" + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(v)), ","), "[]") + "}'"
	case [][]byte:
		hex := make([]string, len(v))
		for i, b := range v {
			hex[i] = fmt.Sprintf(`"\\x%x"`, b)
		}
		return "'{" + strings.Join(hex, ",") + "}'"
	}
	return fmt.Sprint(v)
}

func TestOutboxPlansIgnoreStaleStatistics(t *testing.T) {
	t.Parallel()
	t.Run("backlog after the statistics", func(t *testing.T) { t.Parallel(); checkOutboxPlans(t, false) })
	t.Run("backlog gone after the statistics", func(t *testing.T) { t.Parallel(); checkOutboxPlans(t, true) })
}

func checkOutboxPlans(t *testing.T, drained bool) {
	pool := loadStaleOutbox(t, drained)
	ctx := context.Background()
	var pendingIDs []int64
	rows, _ := pool.Query(ctx, `SELECT id FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 64`)
	pendingIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{[]byte("current-key"), []byte("previous-key")}
	tests := []struct {
		name    string
		args    []any
		maxRows float64 // the most rows any node may produce over all its loops
		index   string  // the index the statement must use
	}{
		{"claim", []any{keys, "30 seconds", 16}, 64, "outbox_due_idx"},
		{"claim waiting", []any{keys, "30 seconds", 16, "1 second"}, 64, "outbox_due_idx"},
		{"mark sent", []any{pendingIDs}, 4 * float64(len(pendingIDs)), "outbox_pkey"},
		{"mark retry", []any{pendingIDs[0], 0, "1 second", "503", false}, 4, "outbox_pkey"},
		{"mark dead", []any{pendingIDs[0], 0, "503"}, 4, "outbox_pkey"},
		// The gauges count the pending set, which they must read, and nothing of the history.
		{"stats", nil, stalePending + 10, "outbox_due_idx"},
	}
	for _, tt := range tests {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explain(t, pool, mode, postgres.OutboxStatements[tt.name], tt.args...)
			usesIndex := false
			plan.walk(func(n planNode) {
				usesIndex = usesIndex || n.Index == tt.index
				if n.NodeType == "Hash Join" || n.NodeType == "Merge Join" ||
					(n.NodeType == "Seq Scan" && n.Relation != "") {
					t.Errorf("%s (%s): %s on %s; want key lookups only:\n%s", tt.name, mode, n.NodeType, n.Relation, plan)
				}
				if rows := n.ActualRows * max(n.ActualLoops, 1); rows > tt.maxRows {
					t.Errorf("%s (%s): %s %s produced %.0f rows, want at most %.0f:\n%s", tt.name, mode, n.NodeType, n.Relation, rows, tt.maxRows, plan)
				}
			})
			if !usesIndex {
				t.Errorf("%s (%s): does not use %s:\n%s", tt.name, mode, tt.index, plan)
			}
			t.Logf("%s (%s): %d buffers", tt.name, mode, plan.SharedHit+plan.SharedRead)
		}
	}
}
