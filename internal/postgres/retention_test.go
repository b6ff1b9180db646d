package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/registration"
)

// dbNow returns the database's clock, which retention goes by, to whole microseconds.
func (e *env) dbNow(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	if err := e.pool.QueryRow(context.Background(), `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now.Truncate(time.Microsecond)
}

// at sets the service's clock to at.
func (e *env) at(at time.Time) {
	e.clock.mu.Lock()
	e.clock.now = at
	e.clock.mu.Unlock()
}

// finish moves the newest email to email into state ('sent' or 'dead') at at, as a dispatcher
// would, starting the lifetime of the code it carries when sent.
func (e *env) finish(t *testing.T, email, state string, at time.Time) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), `WITH m AS (
			UPDATE outbox SET status = $2,
				sent_at = CASE WHEN $2 = 'sent' THEN $3::timestamptz END,
				dead_at = CASE WHEN $2 = 'dead' THEN $3::timestamptz END
			WHERE id = (SELECT max(id) FROM outbox WHERE recipient = $1) RETURNING id)
		UPDATE activation_codes SET sent_at = $3 FROM m WHERE message_id = m.id AND $2 = 'sent'`, email, state, at)
	if err != nil {
		t.Fatal(err)
	}
}

// count returns the result of a count query.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// gather returns the value of each series in reg, keyed name{label=value}.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			values[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return values
}

// retentionScene is a database holding, at the database's clock now, one address per case
// of the retention rules, named for what must become of it.
type retentionScene struct {
	*env
	now time.Time
}

func newRetentionScene(t *testing.T) retentionScene {
	t.Helper()
	e := newEnv(t, defaultPolicy)
	s := retentionScene{env: e, now: e.dbNow(t)}
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return s.now.Add(-d) }
	reg := func(name string, d time.Duration) registration.User {
		e.at(at(d))
		return e.register(t, name+"@example.com")
	}
	reg("gone-with-address", 26*time.Hour)
	e.finish(t, "gone-with-address@example.com", "sent", at(26*time.Hour))
	reg("gone-expired", 2*time.Hour)
	e.finish(t, "gone-expired@example.com", "sent", at(2*time.Hour))
	resent := reg("kept-resent", 2*time.Hour)
	e.finish(t, "kept-resent@example.com", "sent", at(2*time.Hour))
	e.at(at(30 * time.Second))
	if _, err := e.svc.Resend(ctx, resent); err != nil {
		t.Fatal(err)
	}
	e.finish(t, "kept-resent@example.com", "sent", at(20*time.Second))
	reg("kept-on-its-way", 2*time.Hour)
	reg("gone-dead", 2*time.Hour)
	e.finish(t, "gone-dead@example.com", "dead", at(2*time.Hour))
	s.activate(t, reg("kept-active", 2*time.Hour), at(2*time.Hour))
	reg("kept-young", 30*time.Minute)
	reg("kept-young-dead", 30*time.Minute)
	e.finish(t, "kept-young-dead@example.com", "dead", at(20*time.Minute))
	reg("kept-young-sent", 30*time.Minute)
	e.finish(t, "kept-young-sent@example.com", "sent", at(20*time.Minute))
	s.activate(t, reg("kept-active-old-history", 26*time.Hour), at(26*time.Hour))
	return s
}

// activate delivers u's code at sent and activates u right after.
func (s retentionScene) activate(t *testing.T, u registration.User, sent time.Time) {
	t.Helper()
	s.finish(t, u.Email, "sent", sent)
	s.at(sent.Add(time.Second))
	if _, err := s.svc.Activate(context.Background(), u, s.latestCode(t, u.Email)); err != nil {
		t.Fatal(err)
	}
}

var shortRetention = postgres.RetentionConfig{
	PendingAccounts: time.Hour,
	Outbox:          10 * time.Minute,
	CodeTTL:         defaultPolicy.CodeTTL,
	BatchSize:       2, // several batches per rule
}

func TestRetentionRemovesWhatItMayAndKeepsWhatIsNeeded(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	r := postgres.NewRetention(s.pool, shortRetention, nil, reg)
	removed, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := postgres.Removed{PendingAccounts: 3, OutboxMessages: 8, HistoryEntries: 2, AddressRecords: 1}
	if removed != want {
		t.Fatalf("RunOnce removed %+v, want %+v", removed, want)
	}
	for _, name := range []string{"gone-with-address", "gone-expired", "gone-dead"} {
		if _, err := s.accounts.Account(ctx, name+"@example.com"); !errors.Is(err, registration.ErrNotFound) {
			t.Errorf("%s: %v, want the account deleted", name, err)
		}
	}
	for _, name := range []string{"kept-resent", "kept-on-its-way", "kept-active", "kept-young", "kept-young-dead", "kept-young-sent", "kept-active-old-history"} {
		if _, err := s.accounts.Account(ctx, name+"@example.com"); err != nil {
			t.Errorf("%s: %v, want the account kept", name, err)
		}
	}
	s.checkOutboxAndHistories(t)
	s.checkCodesOutliveTheirEmails(t)
	if again, err := r.RunOnce(ctx); err != nil || again != (postgres.Removed{}) {
		t.Errorf("second pass removed %+v (%v), want nothing", again, err)
	}
	metrics := gather(t, reg)
	for kind, want := range map[string]float64{"pending_accounts": 3, "outbox_messages": 8, "address_history_entries": 2, "address_records": 1} {
		if got := metrics["regapi_retention_removed_total{kind="+kind+"}"]; got != want {
			t.Errorf("regapi_retention_removed_total{kind=%s} = %v, want %v", kind, got, want)
		}
	}
	if last := metrics["regapi_retention_last_run_timestamp_seconds"]; last < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("regapi_retention_last_run_timestamp_seconds = %v, want about now", last)
	}
}

// checkOutboxAndHistories checks that the pending emails and the quota window stayed.
func (s retentionScene) checkOutboxAndHistories(t *testing.T) {
	t.Helper()
	if n := s.count(t, `SELECT count(*) FROM outbox`); n != 3 {
		t.Errorf("outbox holds %d messages, want 3 (two pending, one sent 20 seconds ago)", n)
	}
	if n := s.count(t, `SELECT count(*) FROM outbox WHERE status = 'pending'`); n != 2 {
		t.Errorf("outbox holds %d pending messages, want 2", n)
	}
	if n := s.count(t, `SELECT count(*) FROM address_codes WHERE email = 'gone-with-address@example.com'`); n != 0 {
		t.Error("the address record left with no account and no history is kept")
	}
	// The quota's last 24 hours stay, with or without the account.
	for email, want := range map[string]int{"gone-expired@example.com": 1, "kept-resent@example.com": 2, "kept-active-old-history@example.com": 0} {
		if n := s.count(t, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, email); n != want {
			t.Errorf("%s keeps %d issue times, want %d", email, n, want)
		}
	}
}

// checkCodesOutliveTheirEmails checks the codes whose emails were deleted: a dead one stays
// dead (the address is free again), a sent one keeps its start.
func (s retentionScene) checkCodesOutliveTheirEmails(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	dead, err := s.accounts.Account(ctx, "kept-young-dead@example.com")
	if err != nil || dead.Code == nil || !dead.Code.Undeliverable {
		t.Fatalf("code whose dead email was deleted: %+v (%v), want undeliverable", dead.Code, err)
	}
	s.at(s.now)
	if _, err := s.svc.Register(ctx, "kept-young-dead@example.com", "another password"); err != nil {
		t.Errorf("registering over an undeliverable code after its email was deleted: %v", err)
	}
	sent, err := s.accounts.Account(ctx, "kept-young-sent@example.com")
	if err != nil || sent.Code == nil || sent.Code.SentAt == nil || sent.Code.Undeliverable {
		t.Errorf("code whose sent email was deleted: %+v (%v), want sent, not undeliverable", sent.Code, err)
	}
	// A new code on that account is a live one again, on its way.
	reissued, _ := s.accounts.Account(ctx, "kept-young-dead@example.com")
	if reissued.Code == nil || reissued.Code.Undeliverable || reissued.Code.SentAt != nil {
		t.Errorf("new code after an undeliverable one: %+v, want on its way", reissued.Code)
	}
}

func TestRetentionZeroKeepsForever(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	r := postgres.NewRetention(s.pool, postgres.RetentionConfig{CodeTTL: time.Minute}, nil, nil)
	removed, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Only the quota histories are cut; no account, no email goes.
	if want := (postgres.Removed{HistoryEntries: 2}); removed != want {
		t.Fatalf("RunOnce removed %+v, want %+v", removed, want)
	}
}

func TestRetentionSkipsWhileAnotherProcessRunsIt(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(0x72656761_70690002)); err != nil {
		t.Fatal(err)
	}
	removed, err := postgres.NewRetention(s.pool, shortRetention, nil, nil).RunOnce(ctx)
	if err != nil || !removed.Skipped || removed.PendingAccounts != 0 {
		t.Fatalf("RunOnce while the lock is held: %+v, %v; want skipped", removed, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(0x72656761_70690002)); err != nil {
		t.Fatal(err)
	}
	if removed, err := postgres.NewRetention(s.pool, shortRetention, nil, nil).RunOnce(ctx); err != nil || removed.PendingAccounts != 3 {
		t.Fatalf("RunOnce once the lock is free: %+v, %v", removed, err)
	}
}

func TestRetentionUnderConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	ctx := context.Background()
	s.at(s.now)
	r := postgres.NewRetention(s.pool, postgres.RetentionConfig{PendingAccounts: time.Hour, Outbox: 10 * time.Minute, CodeTTL: time.Minute, BatchSize: 1}, nil, nil)
	const n = 40
	var removed postgres.Removed
	done := make(chan error, 1)
	go func() {
		var err error
		removed, err = r.RunOnce(ctx)
		done <- err
	}()
	counts := parallel(n, func(i int) error {
		_, err := s.svc.Register(ctx, fmt.Sprintf("concurrent-%d@example.com", i), "correct horse battery")
		return err
	})
	if err := <-done; err != nil {
		t.Fatalf("RunOnce beside registrations: %v", err)
	}
	if counts[nil] != n {
		t.Fatalf("registrations beside retention: %v, want %d successes", counts, n)
	}
	if removed.PendingAccounts != 3 || removed.OutboxMessages != 8 {
		t.Errorf("removed %+v, want 3 pending accounts and 8 outbox messages", removed)
	}
	if got := s.count(t, `SELECT count(*) FROM users WHERE email LIKE 'concurrent-%'`); got != n {
		t.Errorf("%d new accounts kept, want %d", got, n)
	}
	if got := s.count(t, `SELECT count(*) FROM outbox WHERE recipient LIKE 'concurrent-%' AND status = 'pending'`); got != n {
		t.Errorf("%d new emails pending, want %d", got, n)
	}
}

func TestRetentionBatchesAreBounded(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	removed, more, err := postgres.NewRetention(s.pool, shortRetention, nil, nil).FirstBatches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// history, pending accounts, sent emails, dead emails: the scene has at least two of each due.
	want := []postgres.Removed{{HistoryEntries: 2}, {PendingAccounts: 2, AddressRecords: 1}, {OutboxMessages: 2}, {OutboxMessages: 2}}
	for i := range want {
		if removed[i] != want[i] || !more[i] {
			t.Errorf("first batch of rule %d: removed %+v, more %v; want %+v and more", i, removed[i], more[i], want[i])
		}
	}
}

func TestRetentionRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	s := newRetentionScene(t)
	cfg := shortRetention
	cfg.Interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- postgres.NewRetention(s.pool, cfg, nil, nil).Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.count(t, `SELECT count(*) FROM users WHERE email LIKE 'gone-%'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run removed nothing within 5 seconds")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil once its context ends", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
