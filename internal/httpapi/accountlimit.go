package httpapi

import (
	"net/netip"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// accountFailureWindow is the time in which a client's failed Basic Auth attempts against
// one account come back: its whole allowance refills over this window.
const accountFailureWindow = 15 * time.Minute

// accountKey names one client trying one account.
type accountKey struct {
	email  string       // normalised
	client netip.Prefix // clientKey of the client's address
}

// accountLimiter throttles failed Basic Auth attempts per account and client IP: a token
// bucket per (account, client) holding burst tokens, refilled over accountFailureWindow. It
// slows down password guessing against one account far below the per-IP limit, and since a
// client only spends its own tokens, an attacker elsewhere cannot lock the owner out. A nil
// *accountLimiter allows everything.
//
// Unlike limiter, clients beyond maxBuckets are not limited together but not limited at all
// by this limiter (the per-IP limit still holds): a shared bucket would let whoever fills the
// table lock every other account out.
type accountLimiter struct {
	mu sync.Mutex
	rate
	now        func() time.Time
	buckets    map[accountKey]*bucket
	maxBuckets int
	lastSweep  time.Time
}

// newAccountLimiter returns a limiter allowing burst failed attempts per account and client
// every accountFailureWindow, or nil, which allows everything, when burst is zero or less.
func newAccountLimiter(burst int, now func() time.Time) *accountLimiter {
	if burst <= 0 {
		return nil
	}
	return &accountLimiter{
		rate:       rate{capacity: float64(burst), perSecond: float64(burst) / accountFailureWindow.Seconds()},
		now:        now,
		buckets:    map[accountKey]*bucket{},
		maxBuckets: defaultMaxBuckets,
		lastSweep:  now(),
	}
}

// accountKeyOf returns the bucket key of email tried from ip, and false when email cannot name an
// account: such attempts fail without a lookup, and only the per-IP limit applies to them.
func accountKeyOf(email string, ip netip.Addr) (accountKey, bool) {
	normalized, ok := registration.NormalizeEmail(email)
	if !ok {
		return accountKey{}, false
	}
	return accountKey{email: normalized, client: clientKey(ip)}, true
}

// take spends one token of key's bucket. When none is left it returns a
// *registration.RetryError wrapping rate_limited, with the time until the next token.
func (l *accountLimiter) take(key accountKey) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if b == nil {
		return nil
	}
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
		return &registration.RetryError{Err: &requestError{code: "rate_limited"}, After: wait}
	}
	b.tokens--
	return nil
}

// give returns a token taken for an attempt that did not fail.
func (l *accountLimiter) give(key accountKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.bucket(key); b != nil {
		b.tokens = min(b.tokens+1, l.capacity)
	}
}

// bucket returns key's bucket refilled up to now, creating it full, or nil when the table is
// full. l.mu must be held.
func (l *accountLimiter) bucket(key accountKey) *bucket {
	now := l.now()
	if now.Sub(l.lastSweep) >= sweepInterval {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxBuckets {
			return nil
		}
		b = &bucket{tokens: l.capacity, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	return b
}

// sweep drops the buckets that have refilled completely. l.mu must be held.
func (l *accountLimiter) sweep(now time.Time) {
	for key, b := range l.buckets {
		if !now.Before(l.refilledAt(b)) {
			delete(l.buckets, key)
		}
	}
	l.lastSweep = now
}
