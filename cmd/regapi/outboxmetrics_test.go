package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/postgres"
)

func TestOutboxCollector(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	backlog := postgres.OutboxStats{Pending: 3, OldestPending: now.Add(-90 * time.Second), Dead: 2,
		OldestPendingEvent: now.Add(-30 * time.Second)}
	tests := []struct {
		name  string
		stats postgres.OutboxStats
		err   error
		want  map[string]float64
	}{
		{"empty", postgres.OutboxStats{}, nil, map[string]float64{
			"regapi_outbox_pending_messages": 0, "regapi_outbox_oldest_pending_age_seconds": 0, "regapi_outbox_dead_messages": 0,
			"regapi_outbox_oldest_pending_event_age_seconds": 0,
		}},
		{"backlog", backlog, nil, map[string]float64{
			"regapi_outbox_pending_messages": 3, "regapi_outbox_oldest_pending_age_seconds": 90, "regapi_outbox_dead_messages": 2,
			"regapi_outbox_oldest_pending_event_age_seconds": 30,
		}},
		{"database down", postgres.OutboxStats{}, errors.New("connection refused"), map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			reg.MustRegister(newOutboxCollector(
				func(context.Context) (postgres.OutboxStats, error) { return tt.stats, tt.err },
				func() time.Time { return now }, slog.New(slog.DiscardHandler)))
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, f := range families {
				got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("gathered %v, want %v", got, tt.want)
			}
			for name, v := range tt.want {
				if got[name] != v {
					t.Errorf("%s = %v, want %v", name, got[name], v)
				}
			}
		})
	}
}
