package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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

// TestUnverifiedPostgresEnvironment: what the driver takes from the environment counts as if
// the URL said it.
func TestUnverifiedPostgresEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		db   string
		want bool
	}{
		{map[string]string{"PGSSLMODE": "verify-full"}, "postgres://twofold:pw@db.internal:5432/twofold", false},
		{map[string]string{"PGSSLMODE": "require"}, "postgres://twofold:pw@db.internal:5432/twofold", true},
		{map[string]string{"PGHOST": "db.internal"}, "postgres://twofold@/twofold", true},
		{map[string]string{"PGHOST": "db.internal", "PGSSLMODE": "verify-full"}, "postgres://twofold@/twofold", false},
	} {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := unverifiedPostgres(tc.db); got != tc.want {
				t.Errorf("with %v, unverifiedPostgres(%q) = %v, want %v", tc.env, tc.db, got, tc.want)
			}
		})
	}
}

// TestUnverifiedPostgresRootCert: sslmode=require with sslrootcert checks the server's chain,
// as libpq's verify-ca does, so it is not named; without the root certificate it is.
func TestUnverifiedPostgresRootCert(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "root.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for db, want := range map[string]bool{
		"postgres://twofold:pw@db.internal:5432/twofold?sslmode=require&sslrootcert=" + ca: false,
		"postgres://twofold:pw@db.internal:5432/twofold?sslmode=require":                   true,
	} {
		if got := unverifiedPostgres(db); got != want {
			t.Errorf("unverifiedPostgres(%q) = %v, want %v", db, got, want)
		}
	}
}
