package outbox_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// logLine is the part of a JSON log line the outage tests look at.
type logLine struct {
	Level    string  `json:"level"`
	Msg      string  `json:"msg"`
	Part     string  `json:"part"`
	Failures int     `json:"failures"`
	DownFor  float64 `json:"down_for_seconds"`
}

// logLines parses every line of logs at INFO or above.
func logLines(t *testing.T, logs string) []logLine {
	t.Helper()
	var lines []logLine
	for _, s := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if l.Level != "DEBUG" {
			lines = append(lines, l)
		}
	}
	return lines
}

// downStore is a fakeStore that, while down, fails every call as a database that is failing
// over does.
type downStore struct {
	*fakeStore
	down   atomic.Bool
	failed atomic.Int64 // calls failed
}

func (s *downStore) failing() error {
	if s.down.Load() {
		s.failed.Add(1)
		return errStoreDown
	}
	return nil
}

func (s *downStore) Claim(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int) ([]outbox.Message, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	return s.fakeStore.Claim(ctx, keyIDs, lease, limit)
}

func (s *downStore) ClaimWaiting(ctx context.Context, keyIDs [][]byte, lease time.Duration, limit int, minWait time.Duration) ([]outbox.Message, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	return s.fakeStore.ClaimWaiting(ctx, keyIDs, lease, limit, minWait)
}

func (s *downStore) MarkSent(ctx context.Context, id int64) error {
	if err := s.failing(); err != nil {
		return err
	}
	return s.fakeStore.MarkSent(ctx, id)
}

func (s *downStore) MarkRetry(ctx context.Context, id int64, attempt int, delay time.Duration, reason string, asked bool) error {
	if err := s.failing(); err != nil {
		return err
	}
	return s.fakeStore.MarkRetry(ctx, id, attempt, delay, reason, asked)
}

// An outage of the store, however many polls and mark retries it spans, is one WARN when it
// starts and one INFO with its length when it ends: an operator who pages on ERROR is not
// paged by a database failover. Before, every failed claim was an ERROR.
func TestStoreOutageIsOneWarningAndOneRecovery(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	store := &downStore{fakeStore: newFakeStore()}
	provider := &fakeProvider{respond: func(context.Context, string, int) error {
		<-release
		return nil
	}}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys := fakeKeys{ids: [][]byte{[]byte("current")}}
	id := store.add(keys.seal(registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: testCode, ValidFor: time.Minute}), keys.ids[0])
	d := outbox.NewDispatcher(store, provider, nil, keys, fast, logger, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()

	// The database goes away while an email is being sent: the polls' claims fail, then the
	// recording of the send's outcome; it comes back after many polls.
	eventually(t, "the email is being sent", func() bool { return len(provider.keys()) == 1 })
	store.down.Store(true)
	close(release)
	eventually(t, "calls fail for a while", func() bool { return store.failed.Load() >= 20 })
	store.down.Store(false)
	eventually(t, "the email is sent", func() bool { return store.get(id).state == "sent" })
	// The end of the outage is logged at the first call that works (the old code logged none).
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) &&
		!strings.Contains(logs.String(), "database available again"); {
		time.Sleep(2 * time.Millisecond)
	}

	var warnings, recoveries []logLine
	nErrors := 0
	for _, l := range logLines(t, logs.String()) {
		switch {
		case l.Level == "ERROR":
			nErrors++
		case l.Level == "WARN":
			warnings = append(warnings, l)
		case l.Msg == "database available again":
			recoveries = append(recoveries, l)
		}
	}
	if nErrors > 0 {
		t.Errorf("%d ERROR lines during a short outage of the store, want none", nErrors)
	}
	if len(warnings) != 1 || len(recoveries) != 1 {
		t.Fatalf("%d WARN and %d recoveries, want one of each:\n%s", len(warnings), len(recoveries), logs.String())
	}
	if w := warnings[0]; w.Msg != "database unavailable; retrying until it answers" || w.Part != "email dispatcher" {
		t.Errorf("WARN %q of part %q, want the start of an outage of the email dispatcher", w.Msg, w.Part)
	}
	if r := recoveries[0]; r.Failures < 20 || r.Part != "email dispatcher" || r.DownFor <= 0 {
		t.Errorf("recovery %+v, want the failures of the email dispatcher (20 or more) and the outage's length", r)
	}
}
