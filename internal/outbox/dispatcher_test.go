package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/registration"
)

const testCode = "7391"

var errUnavailable = errors.New("provider unavailable")

func TestRetriesUntilProviderRecoversWithOneKeyPerEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &fakeProvider{respond: func(_ context.Context, _ string, n int) error {
		if n <= 3 {
			return errUnavailable
		}
		return nil
	}})
	ids := []int64{h.add(t, "a@example.com"), h.add(t, "b@example.com")}
	h.run(t, fast)

	for _, id := range ids {
		eventually(t, "the email is sent", h.state(id))
		r := h.store.get(id)
		if r.state != "sent" || r.Attempt != 4 || r.sentAt.IsZero() {
			t.Errorf("message %d: state %s after %d attempts, sent at %v; want sent after 4", id, r.state, r.Attempt, r.sentAt)
		}
	}
	perKey := map[string]int{}
	for _, k := range h.provider.keys() {
		perKey[k]++
	}
	if len(perKey) != 2 || perKey["key-1"] != 4 || perKey["key-2"] != 4 {
		t.Errorf("idempotency keys sent = %v, want key-1 and key-2 four times each", perKey)
	}
	if got := attempts(t, h.registry, "retry"); got != 6 {
		t.Errorf("retry attempts counted = %v, want 6", got)
	}
	if got := attempts(t, h.registry, "sent"); got != 2 {
		t.Errorf("sent attempts counted = %v, want 2", got)
	}
	h.provider.mu.Lock()
	defer h.provider.mu.Unlock()
	if text := h.provider.calls[0].text; !strings.Contains(text, testCode) {
		t.Errorf("email text %q lacks the code", text)
	}
}

func TestGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		respond    func(ctx context.Context, key string, n int) error
		payload    []byte // instead of a sealed email, when set
		code       string // instead of testCode, when set
		wantCalls  int
		wantReason string
	}{
		{"permanent rejection", func(context.Context, string, int) error {
			return &mail.PermanentError{Err: errors.New("mailbox does not exist")}
		}, nil, "", 1, "mailbox does not exist"},
		{"after MaxAttempts", func(context.Context, string, int) error { return errUnavailable }, nil, "", 3, "gave up after 3 attempts"},
		{"hung provider times out every attempt", func(ctx context.Context, _ string, _ int) error {
			<-ctx.Done()
			return ctx.Err()
		}, nil, "", 3, "deadline exceeded"},
		{"payload sealed under another secret", nil, []byte("not a sealed email at all"), "", 0, "open payload"},
		{"payload that cannot be rendered", nil, nil, "12", 0, "render email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, &fakeProvider{respond: tt.respond})
			payload := tt.payload
			if payload == nil && tt.code != "" {
				payload = h.keys.seal(registration.Email{Kind: registration.EmailActivationCode, To: "a@example.com", Code: tt.code, ValidFor: time.Minute})
			}
			var id int64
			if payload != nil {
				id = h.store.add(payload, h.keys.ids[0])
			} else {
				id = h.add(t, "a@example.com")
			}
			cfg := fast
			cfg.MaxAttempts, cfg.SendTimeout = 3, 20*time.Millisecond
			h.run(t, cfg)

			eventually(t, "the message leaves the pending state", h.state(id))
			r := h.store.get(id)
			if r.state != "dead" || !strings.Contains(r.reason, tt.wantReason) {
				t.Errorf("state %s, reason %q; want dead because of %q", r.state, r.reason, tt.wantReason)
			}
			if got := len(h.provider.keys()); got != tt.wantCalls {
				t.Errorf("provider called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestStaleCodeIsDroppedUnsent: an email whose code is no longer live never reaches the
// provider; the live one beside it does.
func TestStaleCodeIsDroppedUnsent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &fakeProvider{})
	stale, live := h.add(t, "a@example.com"), h.add(t, "a@example.com")
	h.store.makeStale(stale, "superseded")
	h.run(t, fast)
	eventually(t, "both messages leave the pending state", func() bool {
		return h.store.count("pending") == 0
	})
	if got := h.store.get(stale).state; got != "dropped" {
		t.Errorf("stale email: state %s, want dropped", got)
	}
	if got := h.store.get(live).state; got != "sent" {
		t.Errorf("live email: state %s, want sent", got)
	}
	if got := len(h.provider.keys()); got != 1 {
		t.Errorf("provider called %d times, want once (the live email)", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &fakeProvider{respond: func(context.Context, string, int) error {
		return &mail.ThrottledError{Err: errUnavailable, RetryAfter: time.Hour}
	}})
	id := h.add(t, "a@example.com")
	h.run(t, fast)

	eventually(t, "the retry is scheduled", func() bool { return len(h.store.get(id).retryAt) == 1 })
	r := h.store.get(id)
	if delay := r.retryAt[0].Sub(r.claimedAt[0]); delay < time.Hour || delay > time.Hour+time.Second {
		t.Errorf("retry scheduled %s after the attempt, want 1h (Retry-After) at least", delay)
	}
	if r.state != "pending" || r.Attempt != 1 {
		t.Errorf("state %s after %d attempts, want pending after 1", r.state, r.Attempt)
	}
}

func TestHungSendDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := newHarness(t, &fakeProvider{respond: func(ctx context.Context, key string, _ int) error {
		if key == "key-1" {
			<-release
		}
		return nil
	}})
	for range 6 {
		h.add(t, "a@example.com")
	}
	cfg := fast
	cfg.Concurrency, cfg.SendTimeout = 2, time.Minute
	h.run(t, cfg)

	for id := int64(2); id <= 6; id++ {
		eventually(t, "the other emails are sent", h.state(id))
	}
	if r := h.store.get(1); r.state != "pending" {
		t.Fatalf("hung message is %s, want still pending", r.state)
	}
	close(release)
	eventually(t, "the hung email is sent once released", h.state(1))
}

func TestShutdownWaitsForTheSendInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	ctxErr := make(chan error, 1)
	h := newHarness(t, &fakeProvider{respond: func(ctx context.Context, _ string, _ int) error {
		close(entered)
		<-release
		ctxErr <- ctx.Err()
		return nil
	}})
	first, second := h.add(t, "a@example.com"), h.add(t, "b@example.com")
	cfg := fast
	cfg.Concurrency = 1
	h.run(t, cfg)

	<-entered
	h.stop()
	select {
	case <-h.done:
		t.Fatal("Run returned while a send was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-ctxErr; err != nil {
		t.Errorf("the in-flight send saw its context end (%v) at shutdown", err)
	}
	if r := h.store.get(first); r.state != "sent" {
		t.Errorf("in-flight message is %s after shutdown, want sent", r.state)
	}
	if r := h.store.get(second); r.Attempt != 0 {
		t.Errorf("a message was claimed after shutdown began (attempt %d)", r.Attempt)
	}
}

func TestStoreFailuresAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &fakeProvider{})
	h.store.failClaims, h.store.failMarks = 3, 2
	id := h.add(t, "a@example.com")
	h.run(t, fast)

	eventually(t, "the email is sent", h.state(id))
	if r := h.store.get(id); r.state != "sent" || r.Attempt != 1 {
		t.Errorf("state %s after %d attempts, want sent after 1 (marking retried)", r.state, r.Attempt)
	}
	if !strings.Contains(h.logs.String(), errStoreDown.Error()) {
		t.Errorf("store failures were not logged")
	}
}

func TestWakeClaimsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &fakeProvider{})
	cfg := fast
	cfg.PollInterval = time.Hour
	h.run(t, cfg)
	eventually(t, "the first claim", func() bool { return h.store.claimCount() == 1 })

	id := h.add(t, "a@example.com")
	h.wake <- struct{}{}
	eventually(t, "the email is sent after a wake-up", h.state(id))
}
