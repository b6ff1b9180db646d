package httpapi

import "net/netip"

const (
	// wideningAt48 is how many IPv6 clients one /48 may have in a limiter before the whole /48
	// counts as one client.
	wideningAt48 = 16
	// wideningAt32 is the same for a /32, counting the /64 and /48 clients under it.
	wideningAt32 = 256
)

// networks counts, per scope, the clients a limiter holds under each wider IPv6 prefix. An
// IPv6 host usually holds a whole /64, so that is one client; but whoever holds a /48 has
// 65,536 of them and a /32 four billion. Once a /48 has wideningAt48 clients in the table, every
// address in it counts as the one client the /48 is, and likewise a /32 at wideningAt32; they
// come apart again when their entries have refilled and gone. Whoever spreads over many
// networks thus shares one bucket with the networks nearest to them, never with everyone.
// IPv4 clients are single addresses.
type networks struct {
	under map[limiterKey]int // clients in the table whose address lies within the key's prefix
}

func newNetworks() networks { return networks{under: map[limiterKey]int{}} }

// key returns the prefix that ip counts as in scope: its /64, or the /48 or /32 holding it
// once that is flooded; the address itself for IPv4, and the zero Prefix for an unknown one.
func (n networks) key(scope string, ip netip.Addr) netip.Prefix {
	if ip.Is4() {
		p, _ := ip.Prefix(32)
		return p
	}
	if !ip.Is6() {
		return netip.Prefix{}
	}
	for _, w := range []struct{ bits, at int }{{32, wideningAt32}, {48, wideningAt48}} {
		if p, _ := ip.Prefix(w.bits); n.under[limiterKey{scope: scope, client: p}] >= w.at {
			return p
		}
	}
	p, _ := ip.Prefix(64)
	return p
}

// add counts a new entry's client in the prefixes wider than it.
func (n networks) add(key limiterKey) { n.adjust(key, 1) }

// remove forgets a removed entry's client.
func (n networks) remove(key limiterKey) { n.adjust(key, -1) }

func (n networks) adjust(key limiterKey, by int) {
	if !key.client.Addr().Is6() {
		return
	}
	for _, bits := range []int{48, 32} {
		if key.client.Bits() <= bits {
			continue
		}
		wider, _ := key.client.Addr().Prefix(bits)
		k := limiterKey{scope: key.scope, client: wider}
		if n.under[k] += by; n.under[k] <= 0 {
			delete(n.under, k)
		}
	}
}
