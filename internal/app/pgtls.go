package app

import (
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/twofold-auth/twofold/internal/loopback"
)

// unverifiedPostgres reports whether the PostgreSQL URL db reaches a server off this machine
// without checking its certificate. Without sslmode=verify-ca or verify-full (or require with
// sslrootcert, which checks the chain as verify-ca does), the driver takes any certificate
// (sslmode=prefer, its default, even falls back to plain text), so that the password and every
// row could pass through a machine in the middle. The URL is read as the driver reads it, with
// what the environment adds (PGHOST, PGSSLMODE...), each of its hosts in turn.
func unverifiedPostgres(db string) bool {
	u, err := url.Parse(db)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return false
	}
	cfg, err := pgconn.ParseConfig(db)
	if err != nil {
		return false // the store's open answers the error
	}
	tries := append([]*pgconn.FallbackConfig{{Host: cfg.Host, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	for _, f := range tries {
		remote := !strings.HasPrefix(f.Host, "/") && !loopback.Host(f.Host) // /path: a Unix socket
		// verify-ca checks the chain itself (VerifyPeerCertificate), verify-full lets crypto/tls
		// check it and the name; every other mode skips the check or has no TLS at all.
		checked := f.TLSConfig != nil && (!f.TLSConfig.InsecureSkipVerify || f.TLSConfig.VerifyPeerCertificate != nil)
		if remote && !checked {
			return true
		}
	}
	return false
}
