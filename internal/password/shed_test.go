package password

import (
	"errors"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

func TestCallerIsRefusedAtOnceWhenTheExpectedWaitIsTooLong(t *testing.T) {
	t.Parallel()
	h, started, release := blockingHasher(1, 4, 100*time.Millisecond)
	defer close(release)
	h.observeHash(time.Second) // each hash is known to take a second
	go func() { _, _ = h.Hash(t.Context(), "first password") }()
	<-started

	start := time.Now()
	_, err := h.Hash(t.Context(), "second password")
	if !errors.Is(err, registration.ErrOverloaded) {
		t.Fatalf("Hash error = %v, want ErrOverloaded", err)
	}
	if took := time.Since(start); took >= 100*time.Millisecond {
		t.Errorf("refusal took %s, want it at once, not after the 100ms maximum wait", took)
	}
	if after, ok := registration.RetryAfter(err); !ok || after < 800*time.Millisecond || after > time.Second {
		t.Errorf("RetryAfter = %s, %v; want about the excess wait of 900ms", after, ok)
	}
	if d := h.QueueDepth(); d != 0 {
		t.Errorf("QueueDepth() = %d after the refusal, want 0", d)
	}
}

func TestCallerWaitsWhenTheExpectedWaitFits(t *testing.T) {
	t.Parallel()
	h, started, release := blockingHasher(2, 4, time.Minute)
	h.observeHash(10 * time.Millisecond)
	go func() { _, _ = h.Hash(t.Context(), "first password") }()
	go func() { _, _ = h.Hash(t.Context(), "second password") }()
	<-started
	<-started
	done := make(chan error, 1)
	go func() { _, err := h.Hash(t.Context(), "third password"); done <- err }()
	waitForQueue(t, h, 1)
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Hash of a caller whose expected wait fits: %v", err)
	}
}

func TestHashTimeIsAMovingAverage(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 2, 4, time.Second)
	if w := h.expectedWait(4); w != 0 {
		t.Errorf("expectedWait before any hash = %s, want 0", w)
	}
	h.observeHash(80 * time.Millisecond)
	h.observeHash(160 * time.Millisecond) // 80 + (160-80)/8 = 90
	if w := h.expectedWait(4); w != 180*time.Millisecond {
		t.Errorf("expectedWait(4) with 2 slots and 90ms hashes = %s, want 180ms", w)
	}
}
