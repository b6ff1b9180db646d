package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/postgres"
)

// outboxStatsTimeout bounds the query behind the outbox gauges, so that a slow database
// delays a scrape by at most this much.
const outboxStatsTimeout = 2 * time.Second

// outboxCollector reports the state of the outbox, read from the database at each scrape: the
// outbox is shared by every process, so a gauge kept in memory by one of them would be wrong.
type outboxCollector struct {
	stats  func(context.Context) (postgres.OutboxStats, error)
	now    func() time.Time
	logger *slog.Logger

	pending, oldestAge, dead, oldestEventAge *prometheus.Desc
}

// newOutboxCollector returns a collector that calls stats (Store.OutboxStats) at each scrape.
// When stats fails, the scrape goes on without the outbox gauges and the error is logged.
func newOutboxCollector(stats func(context.Context) (postgres.OutboxStats, error), now func() time.Time, logger *slog.Logger) *outboxCollector {
	return &outboxCollector{
		stats:  stats,
		now:    now,
		logger: logger,
		pending: prometheus.NewDesc("regapi_outbox_pending_messages",
			"Emails committed to the outbox and neither delivered nor given up on.", nil, nil),
		oldestAge: prometheus.NewDesc("regapi_outbox_oldest_pending_age_seconds",
			"Age of the oldest pending email in the outbox; 0 when none is pending.", nil, nil),
		dead: prometheus.NewDesc("regapi_outbox_dead_messages",
			"Emails given up on after the last delivery attempt (dead state).", nil, nil),
		oldestEventAge: prometheus.NewDesc("regapi_outbox_oldest_pending_event_age_seconds",
			"Age of the oldest undelivered account event; 0 when none is pending.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldestAge
	ch <- c.dead
	ch <- c.oldestEventAge
}

// Collect implements prometheus.Collector.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), outboxStatsTimeout)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		c.logger.Warn("outbox metrics unavailable", "error", err.Error())
		return
	}
	age := func(since time.Time) float64 {
		if since.IsZero() {
			return 0
		}
		return max(c.now().Sub(since).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age(st.OldestPending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.Dead))
	ch <- prometheus.MustNewConstMetric(c.oldestEventAge, prometheus.GaugeValue, age(st.OldestPendingEvent))
}
