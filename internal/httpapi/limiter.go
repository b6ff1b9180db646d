package httpapi

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/regapi/regapi/internal/registration"
)

const (
	// defaultMaxKeys bounds the memory of one limiter (about 310 bytes a key: BenchmarkLimiterFlood). Past it, a new
	// key takes the place of an old one: it is never refused, nor made to share a bucket.
	defaultMaxKeys = 100_000
	// evictionSample is how many of the least recently used keys are weighed when one must go.
	evictionSample = 8
)

// limiterKey names one bucket: a client network and, for the per-account limit, the account.
type limiterKey struct {
	scope  string       // the normalised email for the per-account limit, else empty
	client netip.Prefix // see networks.key; the zero Prefix for an unknown address
}

// limiterEntry is one key's bucket and the requests that hold one of its tokens.
type limiterEntry struct {
	key     limiterKey
	bucket  *rate.Limiter
	held    int       // tokens set aside for requests whose outcome is not known yet
	lastUse time.Time // when a token was last set aside or spent
}

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key. Its memory is bounded:
// a key whose bucket has refilled is dropped, since a new one is the same, and when the table
// is full anyway the key that owes least among the least recently used ones makes room, so a
// flood of new keys neither locks anyone out nor frees the keys it is meant to hold back.
// IPv6 clients are keyed by /64, or by a wider prefix once that floods (see networks). A nil
// *keyedLimiter allows everything.
type keyedLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	refill  time.Duration // an entry unused this long is full again
	now     func() time.Time
	maxKeys int
	entries map[limiterKey]*list.Element // of *limiterEntry
	lru     *list.List                   // most recently used first
	nets    networks
}

// newKeyedLimiter returns a limiter whose buckets hold burst tokens and refill completely
// over window, or nil, which allows everything, when burst is zero or less.
func newKeyedLimiter(burst int, window time.Duration, now func() time.Time) *keyedLimiter {
	if burst <= 0 {
		return nil
	}
	return &keyedLimiter{
		limit:   rate.Limit(float64(burst) / window.Seconds()),
		burst:   burst,
		refill:  window,
		now:     now,
		maxKeys: defaultMaxKeys,
		entries: map[limiterKey]*list.Element{},
		lru:     list.New(),
		nets:    newNetworks(),
	}
}

// allow spends one token of the bucket of scope and ip. When none is left it returns a
// *registration.RetryError wrapping rate_limited, with the time until the next token.
func (l *keyedLimiter) allow(scope string, ip netip.Addr) error {
	settle, err := l.hold(scope, ip)
	if err == nil {
		settle(true)
	}
	return err
}

// hold sets one token of the bucket of scope and ip aside for a request whose outcome is not
// known yet, and returns how to settle it: settle(true) spends the token, settle(false) gives
// it back. It fails as allow does. Holding before the work bounds how many requests of one
// key run at once; settling after it charges only the ones that turned out to count.
func (l *keyedLimiter) hold(scope string, ip netip.Addr) (settle func(spend bool), err error) {
	if l == nil {
		return func(bool) {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.dropRefilled(now)
	e := l.entry(limiterKey{scope: scope, client: l.nets.key(scope, ip)}, now)
	if free := e.bucket.TokensAt(now) - float64(e.held); free < 1 {
		wait := time.Duration((1 - free) / float64(l.limit) * float64(time.Second))
		return nil, &registration.RetryError{Err: &requestError{code: "rate_limited"}, After: wait}
	}
	e.held++
	var once sync.Once
	return func(spend bool) { once.Do(func() { l.settle(e, spend) }) }, nil
}

// settle ends a hold on e's bucket.
func (l *keyedLimiter) settle(e *limiterEntry, spend bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.held--
	if spend {
		now := l.now()
		e.bucket.AllowN(now, 1) // never refused: the token was set aside
		e.lastUse = now
		if el, ok := l.entries[e.key]; ok && el.Value == e {
			l.lru.MoveToFront(el)
		}
	}
}

// entry returns key's entry, marked as just used, creating it with a full bucket (making
// room if need be). l.mu must be held.
func (l *keyedLimiter) entry(key limiterKey, now time.Time) *limiterEntry {
	if el, ok := l.entries[key]; ok {
		l.lru.MoveToFront(el)
		e := el.Value.(*limiterEntry)
		e.lastUse = now
		return e
	}
	if len(l.entries) >= l.maxKeys {
		l.evictOne(now)
	}
	e := &limiterEntry{key: key, bucket: rate.NewLimiter(l.limit, l.burst), lastUse: now}
	l.entries[key] = l.lru.PushFront(e)
	l.nets.add(key)
	return e
}

// dropRefilled removes the entries unused for a whole refill window: their buckets are full,
// no different from new ones. The list is in order of use, so this stops at the first entry
// still in use, and costs nothing when there is nothing to drop. l.mu must be held.
func (l *keyedLimiter) dropRefilled(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		e := el.Value.(*limiterEntry)
		if now.Sub(e.lastUse) < l.refill {
			return
		}
		if e.held > 0 {
			// A request still holds a token: keep the entry until it is settled, and look
			// at it again only after another window.
			e.lastUse = now
			l.lru.MoveToFront(el)
			continue
		}
		l.remove(el)
	}
}

// evictOne makes room for a new key: of the least recently used entries, the one with the
// most tokens left goes, so that a flood of keys that each spent a token or two evicts its own
// kind before an emptied bucket, whose debt would otherwise be forgiven. l.mu must be held.
func (l *keyedLimiter) evictOne(now time.Time) {
	var victim *list.Element
	best := -1.0
	el := l.lru.Back()
	for i := 0; i < evictionSample && el != nil; i, el = i+1, el.Prev() {
		e := el.Value.(*limiterEntry)
		if free := e.bucket.TokensAt(now) - float64(e.held); e.held == 0 && free > best {
			victim, best = el, free
		}
	}
	if victim == nil {
		victim = l.lru.Back()
	}
	l.remove(victim)
}

// remove drops el's entry from the table. l.mu must be held.
func (l *keyedLimiter) remove(el *list.Element) {
	e := l.lru.Remove(el).(*limiterEntry)
	delete(l.entries, e.key)
	l.nets.remove(e.key)
}

// size returns how many keys the limiter holds.
func (l *keyedLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
