package httpapi

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// v4 returns the i-th address of 10.0.0.0/8.
func v4(i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 10<<24|uint32(i))
	return netip.AddrFrom4(b)
}

// v6 returns an address in the /64 numbered low, in the /48 numbered mid, in the /32 numbered
// high, all under 2001::/16.
func v6(high, mid, low int) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	binary.BigEndian.PutUint16(b[2:], uint16(high))
	binary.BigEndian.PutUint16(b[4:], uint16(mid))
	binary.BigEndian.PutUint16(b[6:], uint16(low))
	b[15] = 1
	return netip.AddrFrom16(b)
}

// newFloodLimiter returns a limiter of one token a minute with room for maxKeys keys.
func newFloodLimiter(maxKeys int) (*keyedLimiter, *registrationtest.Clock) {
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(1, time.Minute, clock.Now)
	l.maxKeys = maxKeys
	return l, clock
}

// checkBounded fails t if l holds more than its keys, or counts more networks than it can.
func checkBounded(t *testing.T, l *keyedLimiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) > l.maxKeys || l.lru.Len() != len(l.entries) || len(l.nets.under) > 2*len(l.entries) {
		t.Fatalf("%d entries (max %d), %d in order of use, %d networks counted",
			len(l.entries), l.maxKeys, l.lru.Len(), len(l.nets.under))
	}
}

func TestLimiterFloodOfKeysLocksNoNewClientOut(t *testing.T) {
	t.Parallel()
	l, _ := newFloodLimiter(1000)
	// Ten times the table's size of clients, each spending its one token: IPv4 addresses and
	// IPv6 /64s spread over as many /32s, so that no prefix widens.
	for i := range 5000 {
		_ = l.allow("", v4(i))
		_ = l.allow("", v6(i, 0, 0))
	}
	checkBounded(t, l)
	for _, newcomer := range []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2a00:1:2:3::4")} {
		if err := l.allow("", newcomer); err != nil {
			t.Fatalf("a new client %s was refused after the flood: %v", newcomer, err)
		}
		if err := l.allow("", newcomer); err == nil {
			t.Fatalf("the new client %s has no bucket of its own: its second request was allowed", newcomer)
		}
	}
}

func TestLimiterWidensAFloodedIPv6Prefix(t *testing.T) {
	t.Parallel()
	l, clock := newFloodLimiter(10_000)
	// One /48 spreading over its /64s: the first wideningAt48 are clients of their own, then
	// the /48 is one client, whose one token the next /64 spends.
	for low := range wideningAt48 {
		if err := l.allow("", v6(1, 1, low)); err != nil {
			t.Fatalf("/64 number %d refused: %v", low, err)
		}
	}
	if err := l.allow("", v6(1, 1, 100)); err != nil {
		t.Fatalf("the /48's first request as one client: %v", err)
	}
	if err := l.allow("", v6(1, 1, 101)); err == nil {
		t.Fatal("another /64 of the flooded /48 was allowed: the /48 did not become one client")
	}
	if err := l.allow("", v6(1, 2, 0)); err != nil {
		t.Fatalf("a /64 of the next /48 was refused: %v", err)
	}
	// Many /48s of one /32, one /64 each: once the /32 holds wideningAt32 clients, it is one
	// client, and the next /48 finds its token spent.
	refusedAt := 0
	for mid := 3; mid < 2*wideningAt32 && refusedAt == 0; mid++ {
		if l.allow("", v6(1, mid, 0)) != nil {
			refusedAt = mid
		}
	}
	if refusedAt == 0 || refusedAt > wideningAt32 {
		t.Fatalf("the /32 became one client at /48 number %d, want by %d", refusedAt, wideningAt32)
	}
	if err := l.allow("", v6(1, 5001, 0)); err == nil {
		t.Fatal("another /48 of the flooded /32 was allowed")
	}
	if err := l.allow("", v6(2, 0, 0)); err != nil {
		t.Fatalf("a client of another /32 was refused: %v", err)
	}
	checkBounded(t, l)
	// Once the flood's entries have refilled and gone, the /64s are clients of their own again.
	clock.Advance(2 * time.Minute)
	if err := l.allow("", v6(1, 1, 101)); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if err := l.allow("", v6(1, 1, 102)); err != nil {
		t.Fatalf("after the flood, a neighbouring /64: %v", err)
	}
	if n := l.size(); n != 2 {
		t.Fatalf("%d entries after the flood went, want 2", n)
	}
}

func TestAccountLimitStaysOnUnderAFlood(t *testing.T) {
	t.Parallel()
	clock := registrationtest.NewClock()
	l := newKeyedLimiter(10, accountFailureWindow, clock.Now)
	l.maxKeys = 1000
	attacker := netip.MustParseAddr("203.0.113.7")
	for range 10 {
		_ = l.allow("victim@example.com", attacker)
	}
	// Twenty times the table's size of other (account, client) pairs, each failing once: the
	// pair whose allowance is spent stays throttled, and each newcomer has its own allowance.
	for i := range 20_000 {
		clock.Advance(time.Millisecond)
		if err := l.allow("user@example.com", v4(i)); err != nil {
			t.Fatalf("pair %d refused: %v", i, err)
		}
		if i%1000 == 0 {
			if err := l.allow("victim@example.com", attacker); err == nil {
				t.Fatalf("after %d other pairs, the throttled pair was allowed again: the limit switched off", i)
			}
		}
	}
	checkBounded(t, l)
	owner := netip.MustParseAddr("198.51.100.20")
	if err := l.allow("victim@example.com", owner); err != nil {
		t.Fatalf("the owner elsewhere was refused: %v", err)
	}
}

func TestLimiterKeepsAnEntryHeldPastItsWindow(t *testing.T) {
	t.Parallel()
	l, clock := newFloodLimiter(10)
	ip := netip.MustParseAddr("192.0.2.1")
	settle, err := l.hold("", ip)
	if err != nil {
		t.Fatal(err)
	}
	// The only entry is held beyond its refill window: it is neither dropped nor spun on.
	clock.Advance(2 * time.Minute)
	if err := l.allow("", ip); err == nil {
		t.Fatal("a second token was allowed while the only one was held")
	}
	settle(true)
	clock.Advance(2 * time.Minute)
	if err := l.allow("", netip.MustParseAddr("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if n := l.size(); n != 1 {
		t.Fatalf("%d entries, want the settled one dropped", n)
	}
}
