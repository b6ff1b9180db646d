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
	// The emails of the deleted pending accounts go with them, not as finished outbox messages.
	want := postgres.Removed{PendingAccounts: 3, OutboxMessages: 5, HistoryEntries: 2, AddressRecords: 1}
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
	for kind, want := range map[string]float64{"pending_accounts": 3, "outbox_messages": 5, "address_history_entries": 2, "address_records": 1} {
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
	if err != nil || dead.Code(registration.CodeActivation) == nil || !dead.Code(registration.CodeActivation).Undeliverable {
		t.Fatalf("code whose dead email was deleted: %+v (%v), want undeliverable", dead.Code(registration.CodeActivation), err)
	}
	s.at(s.now)
	if _, err := s.svc.Register(ctx, "kept-young-dead@example.com", "another password", registration.English); err != nil {
		t.Errorf("registering over an undeliverable code after its email was deleted: %v", err)
	}
	sent, err := s.accounts.Account(ctx, "kept-young-sent@example.com")
	if err != nil || sent.Code(registration.CodeActivation) == nil || sent.Code(registration.CodeActivation).SentAt == nil || sent.Code(registration.CodeActivation).Undeliverable {
		t.Errorf("code whose sent email was deleted: %+v (%v), want sent, not undeliverable", sent.Code(registration.CodeActivation), err)
	}
	// A new code on that account is a live one again, on its way.
	reissued, _ := s.accounts.Account(ctx, "kept-young-dead@example.com")
	if reissued.Code(registration.CodeActivation) == nil || reissued.Code(registration.CodeActivation).Undeliverable || reissued.Code(registration.CodeActivation).SentAt != nil {
		t.Errorf("new code after an undeliverable one: %+v, want on its way", reissued.Code(registration.CodeActivation))
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
		_, err := s.svc.Register(ctx, fmt.Sprintf("concurrent-%d@example.com", i), "correct horse battery", registration.English)
		return err
	})
	if err := <-done; err != nil {
		t.Fatalf("RunOnce beside registrations: %v", err)
	}
	if counts[nil] != n {
		t.Fatalf("registrations beside retention: %v, want %d successes", counts, n)
	}
	if removed.PendingAccounts != 3 || removed.OutboxMessages != 5 {
		t.Errorf("removed %+v, want 3 pending accounts and 5 outbox messages", removed)
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
