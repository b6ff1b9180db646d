package password

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

var cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// blockingHasher returns a Hasher whose hashes each wait for a value on release, and a
// channel that receives a value whenever a hash starts.
func blockingHasher(concurrency, queueSize int, maxWait time.Duration) (h *Hasher, started, release chan struct{}) {
	h = NewHasher(cheap, concurrency, queueSize, maxWait)
	started, release = make(chan struct{}, 16), make(chan struct{})
	h.derive = func(p Params, password, salt []byte, n int) []byte {
		started <- struct{}{}
		<-release
		return p.key(password, salt, n)
	}
	return h, started, release
}

func waitForQueue(t *testing.T, h *Hasher, depth int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.QueueDepth() != depth {
		if time.Now().After(deadline) {
			t.Fatalf("QueueDepth() = %d, want %d", h.QueueDepth(), depth)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestThirdCallerIsRefusedWhenQueueIsFull(t *testing.T) {
	t.Parallel()
	h, started, release := blockingHasher(1, 1, time.Minute)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { _, errs[0] = h.Hash(ctx, "first password") })
	<-started
	wg.Go(func() { _, errs[1] = h.Hash(ctx, "second password") })
	waitForQueue(t, h, 1)

	if _, err := h.Hash(ctx, "third password"); !errors.Is(err, registration.ErrOverloaded) {
		t.Errorf("third Hash error = %v, want ErrOverloaded", err)
	}
	if _, err := h.Verify(ctx, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U", "x"); !errors.Is(err, registration.ErrOverloaded) {
		t.Errorf("Verify while full: error = %v, want ErrOverloaded", err)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i+1, err)
		}
	}
	if d := h.QueueDepth(); d != 0 {
		t.Errorf("QueueDepth() after all finished = %d, want 0", d)
	}
}

func TestWaitingEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxWait time.Duration
		cancel  bool
		want    error
	}{
		{"after maxWait", 20 * time.Millisecond, false, registration.ErrOverloaded},
		{"when the context ends", time.Minute, true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, started, release := blockingHasher(1, 1, tt.maxWait)
			defer close(release)
			go func() { _, _ = h.Hash(context.Background(), "first password") }()
			<-started
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			if _, err := h.Hash(ctx, "second password"); !errors.Is(err, tt.want) {
				t.Errorf("Hash error = %v, want %v", err, tt.want)
			}
			if d := h.QueueDepth(); d != 0 {
				t.Errorf("QueueDepth() = %d after giving up, want 0", d)
			}
		})
	}
}

func TestCancelledCallerSpendsNoHash(t *testing.T) {
	t.Parallel()
	h, started, release := blockingHasher(1, 1, time.Minute)
	close(release)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash error = %v, want context.Canceled", err)
	}
	if len(started) != 0 {
		t.Errorf("a hash was computed for a caller that was gone")
	}
}

type recordingObserver struct {
	mu   sync.Mutex
	seen []float64
}

func (o *recordingObserver) Observe(v float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, v)
}

func TestQueueWaitIsObserved(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	h := NewHasher(cheap, 1, 1, time.Second, WithQueueWait(obs))
	for range 3 {
		if _, err := h.Hash(t.Context(), "password"); err != nil {
			t.Fatalf("Hash: %v", err)
		}
	}
	if len(obs.seen) != 3 {
		t.Errorf("observed %d waits, want 3", len(obs.seen))
	}
}

// summingCounter is a prometheus.Counter that only sums what is added.
type summingCounter struct {
	prometheus.Counter
	mu  sync.Mutex
	sum float64
}

func (c *summingCounter) Add(v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum += v
}

func TestBusyTimeCountsTheTimeSlotsAreHeld(t *testing.T) {
	t.Parallel()
	busy := &summingCounter{}
	h, clock := costedHasher(cheap)
	WithBusyTime(busy)(h)
	for range 3 {
		if _, err := h.Hash(t.Context(), "password"); err != nil {
			t.Fatalf("Hash: %v", err)
		}
	}
	if want := 3 * cost(cheap).Seconds(); math.Abs(busy.sum-want) > 1e-9 {
		t.Errorf("busy time = %gs after three hashes of %s (fake clock at %s), want %gs", busy.sum, cost(cheap), clock.now(), want)
	}
}
