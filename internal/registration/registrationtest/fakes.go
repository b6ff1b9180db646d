package registrationtest

import (
	"context"
	"sync"
	"time"
)

// T0 is where a new Clock starts: a fixed instant in whole microseconds, as PostgreSQL keeps
// time, so that tests read the same every run.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a clock that moves only when told; its Now fits registration.NewService.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at T0.
func NewClock() *Clock { return &Clock{now: T0} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Hasher is a registration.PasswordHasher that costs nothing: a hash is the password with a
// prefix. For tests of everything but the hashing.
type Hasher struct{}

// FakeHash returns what Hasher makes of password.
func FakeHash(password string) string { return "fake$" + password }

// Hash returns password's fake hash.
func (Hasher) Hash(_ context.Context, password string) (string, error) {
	return FakeHash(password), nil
}

// Verify reports whether encoded is password's fake hash.
func (Hasher) Verify(_ context.Context, encoded, password string) (bool, error) {
	return encoded == FakeHash(password), nil
}

// NeedsRehash reports false: fake hashes have no parameters.
func (Hasher) NeedsRehash(string) bool { return false }
