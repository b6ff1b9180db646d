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

	resetRequests       *prometheus.CounterVec
	resetConfirms       *prometheus.CounterVec
	passwordChanges     *prometheus.CounterVec
	emailChangeRequests *prometheus.CounterVec
	emailChangeConfirms *prometheus.CounterVec
	deletions           *prometheus.CounterVec
}

// newMetrics creates the instruments and registers them in reg; it panics if reg already
// holds instruments of the same names.
func newMetrics(reg prometheus.Registerer) *metrics {
	outcomes := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"outcome"})
		reg.MustRegister(c)
		// The series for success exists from the start, so rates over it are defined before the first.
		c.WithLabelValues("ok")
		return c
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
		resetRequests: outcomes("regapi_password_reset_requests_total",
			"Requests for a password reset code, by outcome: ok or the problem code answered."),
		resetConfirms: outcomes("regapi_password_reset_confirmations_total",
			"Password resets with a code, by outcome: ok or the problem code answered."),
		passwordChanges: outcomes("regapi_password_changes_total",
			"Password changes, by outcome: ok or the problem code answered."),
		emailChangeRequests: outcomes("regapi_email_change_requests_total",
			"Requests to move an account to another address, by outcome: ok or the problem code answered."),
		emailChangeConfirms: outcomes("regapi_email_change_confirmations_total",
			"Address changes confirmed with a code, by outcome: ok or the problem code answered."),
		deletions: outcomes("regapi_account_deletions_total",
			"Account deletions, by outcome: ok or the problem code answered."),
	}
	reg.MustRegister(m.duration, m.inFlight)
	return m
}
