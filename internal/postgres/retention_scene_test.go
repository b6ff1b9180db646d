package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	e.clock.Set(at)
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
		UPDATE codes SET sent_at = $3 FROM m WHERE message_id = m.id AND $2 = 'sent'`, email, state, at)
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
