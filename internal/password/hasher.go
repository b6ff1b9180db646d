// Package password hashes passwords with argon2id and keeps the hashing load bounded: a
// hash costs tens of milliseconds of CPU and megabytes of memory, so only a few run at once,
// a bounded number of callers wait for them, and the rest are refused as overloaded.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id. It implements
// registration.PasswordHasher and is safe for concurrent use.
type Hasher struct {
	params  Params
	maxWait time.Duration
	// running holds a token per hash being computed; waiting holds one per caller queued
	// for a free slot.
	running chan struct{}
	waiting chan struct{}
	wait    prometheus.Observer
	busy    prometheus.Counter
	// derive computes the key; tests replace it to hold a slot busy or to count its cost.
	derive func(p Params, password, salt []byte, keyLen int) []byte
	// now and sleep time hashes and pad failures; tests replace them with a fake clock.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration)
	// hashTime is a moving average of how long one hash at the current parameters takes, in
	// nanoseconds; zero until the first one is done.
	hashTime atomic.Int64
	// recent holds the durations of the last current-cost hashes, which failures pad to.
	recent recentHashes
}

var _ registration.PasswordHasher = (*Hasher)(nil)

// Option configures a Hasher.
type Option func(*Hasher)

// WithQueueWait makes the Hasher observe, in seconds, how long each hash waited for a slot
// (zero when one was free), for instance into a prometheus.Histogram.
func WithQueueWait(o prometheus.Observer) Option {
	return func(h *Hasher) { h.wait = o }
}

// WithBusyTime makes the Hasher add to c, in seconds, how long each hash held its slot (a
// failure's padding included), for instance a prometheus.Counter: its rate divided by the
// number of slots is the fraction of the time the slots were busy.
func WithBusyTime(c prometheus.Counter) Option {
	return func(h *Hasher) { h.busy = c }
}

// NewHasher returns a Hasher that hashes new passwords with p. At most concurrency hashes
// (at least 1) run at once; at most queueSize further callers wait for a slot, each for at
// most maxWait (a maxWait of zero or less means until its context ends). A caller whose
// wait, estimated from the average hash time, would exceed maxWait is refused at once. p is checked on
// every Hash, which fails with ErrInvalidParams when p is out of bounds; Params.Validate
// checks it up front.
func NewHasher(p Params, concurrency, queueSize int, maxWait time.Duration, opts ...Option) *Hasher {
	h := &Hasher{
		params:  p,
		maxWait: maxWait,
		running: make(chan struct{}, max(concurrency, 1)),
		waiting: make(chan struct{}, max(queueSize, 0)),
		derive:  Params.key,
		now:     time.Now,
		sleep:   sleep,
	}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// QueueDepth returns how many callers are waiting for a hashing slot.
func (h *Hasher) QueueDepth() int { return len(h.waiting) }

// Hash returns the PHC string of the argon2id hash of password, normalised as
// registration.NormalizePassword says, under a fresh random salt. It returns an error
// wrapping registration.ErrOverloaded when the queue is full or the wait exceeds maxWait, or
// is expected to (then as a *registration.RetryError carrying the excess wait), ctx's error
// when ctx ends while waiting, or ErrInvalidParams.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.params.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	start := h.now()
	key := h.derive(h.params, normalized(password), salt, keyLen)
	h.observeHash(h.now().Sub(start))
	return encode(h.params, salt, key), nil
}

// Verify reports whether password, normalised as in Hash, matches encoded, a PHC string from
// Hash. It uses the parameters written in encoded rather than the Hasher's own, so that costs
// can change without invalidating stored hashes; a mismatch against a hash of another cost
// takes as long as one at the current cost (see padFailure). It returns an error wrapping
// ErrMalformedHash for a string it cannot check, and the same overload and context errors as
// Hash.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	// The slot is held through the padding too, so that the queue's accounting sees the
	// time a failure appears to take.
	defer release()
	start := h.now()
	got := h.derive(p, normalized(password), salt, len(want))
	ok := subtle.ConstantTimeCompare(got, want) == 1
	switch {
	case p == h.params:
		h.observeHash(h.now().Sub(start))
	case !ok:
		h.padFailure(ctx, start)
	}
	return ok, nil
}

func normalized(password string) []byte {
	return []byte(registration.NormalizePassword(password))
}

// observeHash records the duration of one hash at the current parameters, and folds it into
// the moving average (weight 1/8).
func (h *Hasher) observeHash(d time.Duration) {
	h.recent.add(d)
	if old := time.Duration(h.hashTime.Load()); old > 0 {
		d = old + (d-old)/8
	}
	h.hashTime.Store(int64(max(d, 1)))
}

// expectedWait estimates how long the caller at position pos of the queue (1 for the next
// to be served) waits for a slot: pos hashes at the average duration, spread over the slots.
// It is zero while no hash has been timed yet.
func (h *Hasher) expectedWait(pos int) time.Duration {
	return time.Duration(pos) * time.Duration(h.hashTime.Load()) / time.Duration(cap(h.running))
}

// acquire takes a hashing slot, waiting in the bounded queue when none is free.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		// The caller is gone: spend no CPU on it.
		return nil, err
	}
	select {
	case h.running <- struct{}{}:
		h.observe(0)
		return h.held(), nil
	default:
	}
	select {
	case h.waiting <- struct{}{}:
		defer func() { <-h.waiting }()
	default:
		return nil, fmt.Errorf("%w: password hashing queue is full", registration.ErrOverloaded)
	}
	// A caller that would wait past maxWait is refused now, not after waiting in vain: the
	// client hears 503 at once, with a Retry-After of about the excess wait, and holds
	// no connection and no place in the queue meanwhile.
	if wait := h.expectedWait(len(h.waiting)); h.maxWait > 0 && wait > h.maxWait {
		return nil, &registration.RetryError{
			Err:   fmt.Errorf("%w: expected wait of %s for a password hashing slot exceeds %s", registration.ErrOverloaded, wait.Round(time.Millisecond), h.maxWait),
			After: wait - h.maxWait,
		}
	}
	if err := h.waitForSlot(ctx); err != nil {
		return nil, err
	}
	return h.held(), nil
}

// held returns the release of a slot taken now, which also counts the time it was held.
func (h *Hasher) held() (release func()) {
	start := h.now()
	return func() {
		if h.busy != nil {
			h.busy.Add(h.now().Sub(start).Seconds())
		}
		<-h.running
	}
}

// waitForSlot takes a hashing slot when one frees, waiting at most maxWait (when set) and
// no longer than ctx.
func (h *Hasher) waitForSlot(ctx context.Context) error {
	var timeout <-chan time.Time
	if h.maxWait > 0 {
		timer := time.NewTimer(h.maxWait)
		defer timer.Stop()
		timeout = timer.C
	}
	start := time.Now()
	select {
	case h.running <- struct{}{}:
		h.observe(time.Since(start))
		return nil
	case <-timeout:
		return fmt.Errorf("%w: waited %s for a password hashing slot", registration.ErrOverloaded, h.maxWait)
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) observe(d time.Duration) {
	if h.wait != nil {
		h.wait.Observe(d.Seconds())
	}
}
