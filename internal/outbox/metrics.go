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
	// outcomeDropped: the email's code was no longer live; it was deleted unsent.
	outcomeDropped = "dropped"
)

// Metrics are the dispatcher's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	attempts      *prometheus.CounterVec
	sendDuration  prometheus.Histogram
	acceptLatency prometheus.Histogram
	providerDown  prometheus.Gauge
	events        *prometheus.CounterVec
}

// NewMetrics creates the dispatcher's metrics and registers them with reg, unless reg is
// nil:
//   - regapi_email_delivery_attempts_total{outcome="sent|retry|dead|dropped"}
//   - regapi_event_delivery_attempts_total{type="user.created|…", outcome="sent|retry|dead"}
//   - regapi_email_send_duration_seconds, how long one attempt took
//   - regapi_email_accept_latency_seconds, from commit to the outbox until the provider
//     accepted the email
//   - regapi_email_provider_down, 1 while the dispatcher counts the provider as down and only
//     probes it, 0 otherwise
//
// It panics, like prometheus.MustRegister, if the metrics are registered twice with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regapi_email_delivery_attempts_total",
			Help: "Email delivery attempts, by outcome: sent, retry (failed, tried again later), dead (given up) or dropped (its code was no longer live: never sent).",
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
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regapi_event_delivery_attempts_total",
			Help: "Account event delivery attempts, by event type and outcome: sent, retry (failed, tried again later) or dead (given up).",
		}, []string{"type", "outcome"}),
		providerDown: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regapi_email_provider_down",
			Help: "1 while the email provider counts as down (failed several times in a row) and is only probed, 0 otherwise.",
		}),
	}
	for _, o := range []string{outcomeSent, outcomeRetry, outcomeDead, outcomeDropped} {
		m.attempts.WithLabelValues(o) // a series at zero reads better than a missing one
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.sendDuration, m.acceptLatency, m.providerDown, m.events)
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

func (m *Metrics) event(typ, outcome string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(typ, outcome).Inc()
}

// dropped counts an email dropped unsent: no attempt reached the provider, so no duration.
func (m *Metrics) dropped() {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(outcomeDropped).Inc()
}

func (m *Metrics) accepted(latency time.Duration) {
	if m == nil {
		return
	}
	m.acceptLatency.Observe(max(latency, 0).Seconds())
}

func (m *Metrics) providerState(down bool) {
	if m == nil {
		return
	}
	m.providerDown.Set(map[bool]float64{false: 0, true: 1}[down])
}
