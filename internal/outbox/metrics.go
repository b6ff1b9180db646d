package outbox

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The outcomes of one delivery attempt, as logged and counted.
const (
	outcomeSent  = "sent"
	outcomeRetry = "retry"
	outcomeDead  = "dead"
)

// Metrics are the dispatcher's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	attempts      *prometheus.CounterVec
	sendDuration  prometheus.Histogram
	acceptLatency prometheus.Histogram
}

// NewMetrics creates the dispatcher's metrics and registers them with reg, unless reg is
// nil:
//   - regapi_email_delivery_attempts_total{outcome="sent|retry|dead"}
//   - regapi_email_send_duration_seconds, how long one attempt took
//   - regapi_email_accept_latency_seconds, from commit to the outbox until the provider
//     accepted the email
//
// It panics, like prometheus.MustRegister, if the metrics are registered twice with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regapi_email_delivery_attempts_total",
			Help: "Email delivery attempts, by outcome: sent, retry (failed, tried again later) or dead (given up).",
		}, []string{"outcome"}),
		sendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "regapi_email_send_duration_seconds",
			Help:    "Time one attempt to hand an email to the provider took.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		acceptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "regapi_email_accept_latency_seconds",
			Help:    "Time from committing an email to the outbox until the provider accepted it.",
			Buckets: prometheus.ExponentialBuckets(.05, 2, 16), // 50ms to about 27 minutes
		}),
	}
	for _, o := range []string{outcomeSent, outcomeRetry, outcomeDead} {
		m.attempts.WithLabelValues(o) // a series at zero reads better than a missing one
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.sendDuration, m.acceptLatency)
	}
	return m
}

func (m *Metrics) attempt(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(outcome).Inc()
	m.sendDuration.Observe(took.Seconds())
}

func (m *Metrics) accepted(latency time.Duration) {
	if m == nil {
		return
	}
	m.acceptLatency.Observe(max(latency, 0).Seconds())
}
