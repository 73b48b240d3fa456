// Package loopback tells whether a host name stays on this machine: where plain http, mail
// without TLS and a database without certificate checks are allowed.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a name or an IP address, without port) is localhost or a
// loopback address.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
