package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

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
