// Package clientaddr tells the address of the client behind a request, for the per-address
// sign-in limit. X-Forwarded-For is believed only when the peer is a trusted proxy.
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
