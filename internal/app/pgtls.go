package app

import (
	"net"
	"net/url"
	"strings"

	"github.com/twofold-auth/twofold/internal/loopback"
)

// unverifiedPostgres reports whether the PostgreSQL URL db reaches a server off this machine
// without checking its certificate. Without sslmode=verify-ca or verify-full, the driver takes
// any certificate (sslmode=prefer, its default, even falls back to plain text), so that the
// password and every row could pass through a machine in the middle.
func unverifiedPostgres(db string) bool {
	u, err := url.Parse(db)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return false
	}
	q := u.Query()
	if mode := q.Get("sslmode"); mode == "verify-ca" || mode == "verify-full" {
		return false
	}
	hosts := strings.Split(u.Host, ",")
	if u.Host == "" {
		hosts = strings.Split(q.Get("host"), ",")
	}
	for _, h := range hosts {
		if name, _, err := net.SplitHostPort(h); err == nil {
			h = name
		}
		h = strings.Trim(h, "[]")
		if h != "" && !strings.HasPrefix(h, "/") && !loopback.Host(h) { // "" and /path: a Unix socket
			return true
		}
	}
	return false
}
