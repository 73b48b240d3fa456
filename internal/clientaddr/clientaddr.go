// Package clientaddr tells the address of the client behind a request, for the per-address
// sign-in limit, and the key that limit counts it under. X-Forwarded-For is believed only when
// the peer is a trusted proxy.
package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
)

// Of answers the client's address: the peer's, or, when the peer is a trusted proxy, the last
// address in X-Forwarded-For that is not itself a trusted proxy (the one the nearest untrusted
// hop told our proxies; anything to its left may be forged by the client).
func Of(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if hop = hop.Unmap(); !isTrusted(hop, trusted) {
			return hop.String()
		}
	}
	return addr.String()
}

// LimitKey answers the key under which the sign-in failures of addr (from Of) are counted: an
// IPv4 address itself, and an IPv6 address's /64 network. One host usually holds a whole /64
// (its interface identifiers, privacy addresses that change within it), so counting per IPv6
// address would let a single client spread its guesses over 2^64 addresses. What does not
// parse is its own key.
func LimitKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Unmap().Is6() {
		return addr
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// PeerTrusted reports whether the request's peer (not any address it forwards) is a trusted
// proxy, whose headers about the request it passes on may be believed.
func PeerTrusted(r *http.Request, trusted []netip.Prefix) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && isTrusted(peer.Addr().Unmap(), trusted)
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
