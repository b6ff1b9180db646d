// Package outage turns a run of database failures seen by one part of the service (the email
// dispatcher, the outbox listener, retention) into log lines an operator can alert on: one
// WARN when the outage starts, one INFO with its length when it ends, and one ERROR only when
// it lasts long enough to need a person. A failover of the database is a WARN and an INFO,
// however many polls or reconnections it takes.
package outage

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultAlarm is how long an outage lasts before it is logged at ERROR: longer than a
// failover of a replicated PostgreSQL takes, host loss included (about a minute).
const DefaultAlarm = 2 * time.Minute

// Tracker follows the database's availability as one part sees it. Its methods are safe for
// concurrent use.
type Tracker struct {
	logger *slog.Logger
	part   string
	alarm  time.Duration
	now    func() time.Time

	mu       sync.Mutex
	since    time.Time // when the outage began; zero while the database answers
	failures int       // failures since then
	alarmed  bool      // the ERROR of this outage was logged
}

// New returns a Tracker that logs to logger (nil discards) as part, raising the ERROR after
// DefaultAlarm.
func New(logger *slog.Logger, part string) *Tracker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{logger: logger, part: part, alarm: DefaultAlarm, now: time.Now}
}

// WithClock sets the alarm delay and the clock, for tests; it returns t.
func (t *Tracker) WithClock(alarm time.Duration, now func() time.Time) *Tracker {
	t.alarm, t.now = alarm, now
	return t
}

// Fail records a failure to reach or use the database. The first of an outage is logged at
// WARN with its error; the others at DEBUG, except the first one past the alarm delay, logged
// at ERROR.
func (t *Tracker) Fail(err error) {
	t.mu.Lock()
	now := t.now()
	first := t.since.IsZero()
	if first {
		t.since = now
	}
	t.failures++
	down, alarm := now.Sub(t.since), !t.alarmed && now.Sub(t.since) >= t.alarm
	if alarm {
		t.alarmed = true
	}
	failures := t.failures
	t.mu.Unlock()

	attrs := []any{"part", t.part, "error", err.Error()}
	switch {
	case first:
		t.logger.Warn("database unavailable; retrying until it answers", attrs...)
	case alarm:
		t.logger.Error("database still unavailable; retrying", append(attrs,
			"down_for_seconds", seconds(down), "failures", failures)...)
	default:
		t.logger.Debug("database still unavailable; retrying", attrs...)
	}
}

// OK records a success: it ends the outage under way, if any, logging its length at INFO.
func (t *Tracker) OK() {
	t.mu.Lock()
	if t.since.IsZero() {
		t.mu.Unlock()
		return
	}
	down, failures := t.now().Sub(t.since), t.failures
	t.since, t.failures, t.alarmed = time.Time{}, 0, false
	t.mu.Unlock()
	t.logger.Info("database available again", "part", t.part,
		"down_for_seconds", seconds(down), "failures", failures)
}

// Down reports whether an outage is under way.
func (t *Tracker) Down() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.since.IsZero()
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
