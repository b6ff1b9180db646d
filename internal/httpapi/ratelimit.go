package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

const (
	// sweepInterval is how often idle buckets are dropped.
	sweepInterval = time.Minute
	// defaultMaxBuckets bounds the memory a limiter can take. Clients beyond it, seen while it
	// is full, share one bucket: they are limited together rather than not at all.
	defaultMaxBuckets = 100_000
)

// overflowKey is the bucket shared by the clients that did not fit, and by requests whose
// address is unknown.
var overflowKey netip.Prefix

// limiter is a token bucket per client: each holds up to rate tokens and refills at rate
// tokens per minute. A nil *limiter allows everything.
type limiter struct {
	mu sync.Mutex
	rate
	now        func() time.Time
	buckets    map[netip.Prefix]*bucket
	maxBuckets int
	lastSweep  time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// rate is how a bucket fills: up to capacity tokens, perSecond a second.
type rate struct {
	capacity  float64
	perSecond float64
}

// refill adds to b the tokens earned since it was last brought up to date.
func (r rate) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(b.tokens+elapsed.Seconds()*r.perSecond, r.capacity)
		b.at = now
	}
}

// refilledAt is when b will be full again, and so no different from a new bucket.
func (r rate) refilledAt(b *bucket) time.Time {
	return b.at.Add(time.Duration((r.capacity - b.tokens) / r.perSecond * float64(time.Second)))
}

// newLimiter returns a limiter allowing perMinute requests a minute per client, or nil, which
// allows everything, when perMinute is zero or less.
func newLimiter(perMinute int, now func() time.Time) *limiter {
	if perMinute <= 0 {
		return nil
	}
	return &limiter{
		rate:       rate{capacity: float64(perMinute), perSecond: float64(perMinute) / 60},
		now:        now,
		buckets:    map[netip.Prefix]*bucket{},
		maxBuckets: defaultMaxBuckets,
		lastSweep:  now(),
	}
}

// take spends one of ip's tokens. When none is left it returns a *registration.RetryError
// wrapping rate_limited, with the time until the next token.
func (l *limiter) take(ip netip.Addr) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(clientKey(ip))
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
		return &registration.RetryError{Err: &requestError{code: "rate_limited"}, After: wait}
	}
	b.tokens--
	return nil
}

// give returns a token taken for a request that turned out not to count.
func (l *limiter) give(ip netip.Addr) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(clientKey(ip))
	b.tokens = min(b.tokens+1, l.capacity)
}

// bucket returns key's bucket refilled up to now, creating it full. l.mu must be held.
func (l *limiter) bucket(key netip.Prefix) *bucket {
	now := l.now()
	if now.Sub(l.lastSweep) >= sweepInterval {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxBuckets {
			key = overflowKey
		}
		if b, ok = l.buckets[key]; !ok {
			b = &bucket{tokens: l.capacity, at: now}
			l.buckets[key] = b
		}
	}
	l.refill(b, now)
	return b
}

// sweep drops the buckets that have refilled completely: a new one would be just the same.
// l.mu must be held.
func (l *limiter) sweep(now time.Time) {
	for key, b := range l.buckets {
		if !now.Before(l.refilledAt(b)) {
			delete(l.buckets, key)
		}
	}
	l.lastSweep = now
}

// clientKey is the bucket an address counts against. An IPv6 host usually holds a whole /64,
// so that is what one client is.
func clientKey(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return overflowKey
	}
	bits := 32
	if !ip.Is4() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// clientIP returns the address of the client behind r: the peer's address, unless the peer is
// a trusted proxy; then the right-most X-Forwarded-For entry that is not a trusted proxy
// itself, since entries left of it may have been made up by the client. It returns the zero
// Addr when the peer's address cannot be parsed.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := peer.Addr().Unmap()
	if !isTrusted(ip, trusted) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := parseHop(hops[i])
		if err != nil {
			// A trusted proxy passed on garbage; the proxy is the last address known.
			return ip
		}
		ip = hop
		if !isTrusted(ip, trusted) {
			return ip
		}
	}
	return ip
}

// parseHop parses one X-Forwarded-For entry, which some proxies write with a port.
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	ip, err := netip.ParseAddr(s)
	return ip.Unmap(), err
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
