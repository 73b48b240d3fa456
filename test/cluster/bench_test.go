package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// benchConcurrency is how many second-factor requests are in flight at once (SPEC §6: 8).
const benchConcurrency = 8

// benchSetup is one configuration under measurement: running instances and a store handle on
// their database to seed sign-ins with.
type benchSetup struct {
	bases []string
	store store.Store
	keys  *keys.Keys
	seq   int // accounts seeded so far
}

// newBenchSetup starts n instances on SQLite (one file) or PostgreSQL (one schema).
func newBenchSetup(b *testing.B, backend string, n int) *benchSetup {
	b.Helper()
	if testing.Short() {
		b.Skip("starts server processes")
	}
	hexKey := newKey(b)
	k, err := keys.Parse(hexKey)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var db string
	var st store.Store
	switch backend {
	case "sqlite":
		path := filepath.Join(dir, "twofold.db")
		db = "sqlite:" + path
		st, err = sqlite.Open(context.Background(), path)
	case "postgres":
		db = pgtest.URL(b)
		st, err = postgres.Open(context.Background(), db)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	env := (&cluster{key: hexKey}).env()
	s := &benchSetup{store: st, keys: k}
	for i := range n {
		in := startServe(b, env, filepath.Join(dir, fmt.Sprint("instance-", i)), fmt.Sprint(backend, "-", i), "--db", db)
		s.bases = append(s.bases, in.url)
	}
	return s
}

// pending is a sign-in at mfa_verify and the code that completes it.
type pending struct {
	token string
	code  string
}

// seed makes n enrolled accounts, each with a sign-in at mfa_verify, straight in the database
// (the password step is argon2id, measured elsewhere), and answers the sign-ins with the code
// of the current step for each.
func (s *benchSetup) seed(b *testing.B, n int) []pending {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	out := make([]pending, 0, n)
	for len(out) < n {
		err := s.store.Update(ctx, func(q store.Queries) error {
			for range min(500, n-len(out)) {
				s.seq++
				u := &store.User{Username: fmt.Sprintf("bench-%07d", s.seq), Email: "bench@example.org",
					Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser,
					PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
					BackupSalt:   []byte("bench-salt"), CreatedAt: now}
				if err := q.CreateUser(ctx, u); err != nil {
					return err
				}
				key, err := otp.GenerateKey(rand.Reader)
				if err != nil {
					return err
				}
				if u.TOTPKey, err = s.keys.SealTOTP(u.ID, keys.Version, key, rand.Reader); err != nil {
					return err
				}
				u.TOTPKeyVersion = keys.Version
				if err := q.UpdateUser(ctx, u); err != nil {
					return err
				}
				var raw [32]byte
				rand.Read(raw[:])
				token := base64.RawURLEncoding.EncodeToString(raw[:])
				h := sha256.Sum256([]byte(token))
				if err := q.CreateSession(ctx, &store.Session{IDHash: h[:], UserID: u.ID, CreatedAt: now, LastSeenAt: now}); err != nil {
					return err
				}
				out = append(out, pending{token: token, code: otp.TOTP(key, now, otp.Default)})
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	return out
}

// BenchmarkSecondFactor measures the second-factor step (POST /api/v1/signin/mfa/verify with
// a right TOTP code) through HTTP on the real binary, benchConcurrency requests at once spread
// round robin over the instances, on SQLite and PostgreSQL, with one and three instances. It
// reports the throughput and the latency percentiles the client saw. Three instances on one
// SQLite file work (SQLite's locks serialise their writes) but are not a supported way to
// scale: they are here for comparison.
//
//	TWOFOLD_TEST_POSTGRES=... go test -run '^$' -bench SecondFactor -benchtime 4000x ./test/cluster/
func BenchmarkSecondFactor(b *testing.B) {
	for _, c := range []struct {
		backend   string
		instances int
	}{{"sqlite", 1}, {"sqlite", 3}, {"postgres", 1}, {"postgres", 3}} {
		b.Run(fmt.Sprintf("%s-%d", c.backend, c.instances), func(b *testing.B) {
			s := newBenchSetup(b, c.backend, c.instances)
			benchVerify(b, s)
		})
	}
}

func benchVerify(b *testing.B, s *benchSetup) {
	// Warm up: connections, prepared statements, the options cache of each instance.
	warm := s.seed(b, 10*len(s.bases))
	for i, p := range warm {
		c := &client{token: p.token}
		if r, err := c.do(s.bases[i%len(s.bases)], "POST", "/api/v1/signin/mfa/verify", map[string]string{"code": p.code}); err != nil || r.str("next") != "done" {
			b.Fatalf("warm-up verify: %v, %v", r, err)
		}
	}
	work := s.seed(b, b.N)
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(work) {
					return
				}
				c := &client{token: work[i].token}
				t0 := time.Now()
				r, err := c.do(s.bases[(i+w)%len(s.bases)], "POST", "/api/v1/signin/mfa/verify", map[string]string{"code": work[i].code})
				lat[i] = time.Since(t0)
				if err != nil || r.status != http.StatusOK || r.str("next") != "done" {
					if failed.Add(1) == 1 {
						b.Errorf("verify: %v, %v", r, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "verifies/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(failed.Load()), "failed")
}
