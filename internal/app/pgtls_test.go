package app

import "testing"

// TestUnverifiedPostgres: a database off this machine reached without certificate checks is
// named, so that serve can warn; loopback, Unix sockets and verify-ca/verify-full are not.
func TestUnverifiedPostgres(t *testing.T) {
	for db, want := range map[string]bool{
		"postgres://twofold:pw@db.internal:5432/twofold":                     true,
		"postgres://twofold:pw@db.internal:5432/twofold?sslmode=require":     true,
		"postgresql://twofold@10.0.0.5/twofold?sslmode=prefer":               true,
		"postgres://twofold@127.0.0.1:5432,db.internal:5432/twofold":         true,
		"postgres://twofold:pw@db.internal:5432/twofold?sslmode=verify-full": false,
		"postgres://twofold:pw@db.internal:5432/twofold?sslmode=verify-ca":   false,
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable":            false,
		"postgres://postgres@localhost/test":                                 false,
		"postgres://postgres@[::1]:5432/test":                                false,
		"postgres:///twofold?host=/var/run/postgresql":                       false,
		"postgres://twofold@/twofold":                                        false,
		"sqlite:/var/lib/twofold/twofold.db":                                 false,
	} {
		if got := unverifiedPostgres(db); got != want {
			t.Errorf("unverifiedPostgres(%q) = %v, want %v", db, got, want)
		}
	}
}
