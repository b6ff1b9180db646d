package outbox_test

import (
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   outbox.Config
		want outbox.Config
	}{
		{"zero", outbox.Config{}, outbox.Config{
			SendTimeout: 5 * time.Second, Lease: 15 * time.Second, MaxAttempts: 20, BaseBackoff: time.Second,
			MaxBackoff: 5 * time.Minute, Concurrency: 16, PollInterval: time.Second, ProbeInterval: 250 * time.Millisecond,
		}},
		{"lease follows the send timeout", outbox.Config{SendTimeout: 2 * time.Second}, outbox.Config{
			SendTimeout: 2 * time.Second, Lease: 9 * time.Second, MaxAttempts: 20, BaseBackoff: time.Second,
			MaxBackoff: 5 * time.Minute, Concurrency: 16, PollInterval: time.Second, ProbeInterval: 250 * time.Millisecond,
		}},
		{"lease shorter than a send is raised", outbox.Config{SendTimeout: 5 * time.Second, Lease: 5 * time.Second}, outbox.Config{
			SendTimeout: 5 * time.Second, Lease: 15 * time.Second, MaxAttempts: 20, BaseBackoff: time.Second,
			MaxBackoff: 5 * time.Minute, Concurrency: 16, PollInterval: time.Second, ProbeInterval: 250 * time.Millisecond,
		}},
		{"max backoff below base is raised", outbox.Config{
			From: "x@example.com", SendTimeout: time.Second, Lease: time.Minute, MaxAttempts: 3,
			BaseBackoff: time.Minute, MaxBackoff: time.Second, Concurrency: 1, PollInterval: time.Hour, ProbeInterval: time.Second,
		}, outbox.Config{
			From: "x@example.com", SendTimeout: time.Second, Lease: time.Minute, MaxAttempts: 3,
			BaseBackoff: time.Minute, MaxBackoff: time.Minute, Concurrency: 1, PollInterval: time.Hour, ProbeInterval: time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.want.Templates = outbox.Builtin() // unset in every case
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("WithDefaults() = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	cfg := outbox.Config{}.WithDefaults() // 1s doubling up to 5m
	tests := []struct {
		attempt     int
		ceiling     time.Duration
		wantsJitter bool
	}{
		{1, time.Second, false},
		{2, 2 * time.Second, true},
		{3, 4 * time.Second, true},
		{5, 16 * time.Second, true},
		{9, 256 * time.Second, true},
		{10, 5 * time.Minute, true},
		{20, 5 * time.Minute, true},
		{1000, 5 * time.Minute, true},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := cfg.Backoff(tt.attempt)
			if d < cfg.BaseBackoff || d > tt.ceiling {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", tt.attempt, d, cfg.BaseBackoff, tt.ceiling)
			}
			seen[d] = true
		}
		if jittered := len(seen) > 1; jittered != tt.wantsJitter {
			t.Errorf("Backoff(%d): %d distinct delays in 200 draws, want jitter %v", tt.attempt, len(seen), tt.wantsJitter)
		}
	}
}
