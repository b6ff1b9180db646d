package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus instruments. Their labels take only route patterns,
// status codes and problem codes, so their number of series is bounded.
type metrics struct {
	duration      *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	registrations *prometheus.CounterVec
	activations   *prometheus.CounterVec
	resends       *prometheus.CounterVec
}

// newMetrics creates the instruments and registers them in reg; it panics if reg already
// holds instruments of the same names.
func newMetrics(reg prometheus.Registerer) *metrics {
	outcomes := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"outcome"})
	}
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "regapi_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regapi_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		registrations: outcomes("regapi_registrations_total",
			"Registration requests, by outcome: ok or the problem code answered."),
		activations: outcomes("regapi_activations_total",
			"Activation requests, by outcome: ok or the problem code answered."),
		resends: outcomes("regapi_code_resends_total",
			"Requests for a new activation code, by outcome: ok or the problem code answered."),
	}
	reg.MustRegister(m.duration, m.inFlight, m.registrations, m.activations, m.resends)
	// Series for success exist from the start, so rates over them are defined before the first.
	for _, c := range []*prometheus.CounterVec{m.registrations, m.activations, m.resends} {
		c.WithLabelValues("ok")
	}
	return m
}
