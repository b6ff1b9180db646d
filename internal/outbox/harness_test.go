package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outbox"
	"github.com/regapi/regapi/internal/registration"
)

// fast makes retries and polls quick enough for tests.
var fast = outbox.Config{
	From:          "no-reply@regapi.local",
	SendTimeout:   time.Second,
	BaseBackoff:   time.Millisecond,
	MaxBackoff:    5 * time.Millisecond,
	PollInterval:  2 * time.Millisecond,
	ProbeInterval: 2 * time.Millisecond,
}

// harness runs a Dispatcher over a fake store until the test ends.
type harness struct {
	store    *fakeStore
	keys     fakeKeys
	provider *fakeProvider
	// providerOverride, when set, is the provider the dispatcher uses instead of provider.
	providerOverride mail.Provider
	logs             *syncBuffer
	registry         *prometheus.Registry
	wake             chan struct{}
	stop             context.CancelFunc
	done             chan error
}

func newHarness(t *testing.T, provider *fakeProvider) *harness {
	t.Helper()
	return &harness{
		store: newFakeStore(), keys: fakeKeys{ids: [][]byte{[]byte("current"), []byte("previous")}}, provider: provider, logs: &syncBuffer{},
		registry: prometheus.NewRegistry(), wake: make(chan struct{}, 1),
	}
}

// add commits an activation email for to.
func (h *harness) add(t *testing.T, to string) int64 {
	t.Helper()
	return h.addEmail(to)
}

// addEmail commits an activation email for to, sealed under the current key.
func (h *harness) addEmail(to string) int64 {
	return h.store.add(h.keys.seal(registration.Email{Kind: registration.EmailActivationCode, To: to, Code: testCode, ValidFor: time.Minute}), h.keys.ids[0])
}

// run starts the dispatcher; the test's end stops it and checks that Run returned nil.
func (h *harness) run(t *testing.T, cfg outbox.Config) {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var provider mail.Provider = h.provider
	if h.providerOverride != nil {
		provider = h.providerOverride
	}
	d := outbox.NewDispatcher(h.store, provider, nil, h.keys, cfg, logger, outbox.NewMetrics(h.registry), h.wake)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		if err := h.shutdown(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		if logs := h.logs.String(); regexp.MustCompile(`\b`+testCode+`\b`).MatchString(logs) ||
			strings.Contains(logs, "@example.com") {
			t.Errorf("logs reveal the code or the recipient:\n%s", logs)
		}
	})
}

func (h *harness) shutdown() error {
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err // for a second shutdown
		return err
	case <-time.After(5 * time.Second):
		return errors.New("Run did not return within 5s of cancellation")
	}
}

func (h *harness) state(id int64) func() bool {
	return func() bool { return h.store.get(id).state != "pending" }
}

func attempts(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "regapi_email_delivery_attempts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
