package password_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/twofold-auth/twofold/internal/password"
)

// tiny keeps tests fast; the bounds allow it, DefaultParams is what servers use.
var tiny = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// referenceVector is from the argon2 reference implementation's test suite (argon2id, v=19,
// m=64 MiB, t=2, p=1, password "password", salt "somesalt").
const referenceVector = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

func TestHashFormat(t *testing.T) {
	phc, err := password.Hash("correct horse battery", password.DefaultParams, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		t.Fatalf("not an argon2id v=19 PHC string: %q", phc)
	}
	if parts[3] != "m=19456,t=2,p=1" {
		t.Errorf("parameters = %q, want m=19456,t=2,p=1", parts[3])
	}
	for i, want := range []int{16, 32} {
		field := parts[4+i]
		if strings.ContainsAny(field, "=") {
			t.Errorf("field %q is padded; the reference format is unpadded", field)
		}
		b, err := base64.RawStdEncoding.DecodeString(field)
		if err != nil || len(b) != want {
			t.Errorf("field %q: %d bytes, %v; want %d bytes", field, len(b), err, want)
		}
	}
	ok, err := password.Verify("correct horse battery", phc)
	if err != nil || !ok {
		t.Errorf("Verify(right password) = %v, %v", ok, err)
	}
	ok, err = password.Verify("correct horse battery!", phc)
	if err != nil || ok {
		t.Errorf("Verify(wrong password) = %v, %v", ok, err)
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, err := password.Hash("same password", tiny, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := password.Hash("same password", tiny, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
}

func TestKnownVector(t *testing.T) {
	p := password.Params{Memory: 65536, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 8}
	// The salt comes from the injected reader, so the whole string is deterministic.
	phc, err := password.Hash("password", p, strings.NewReader("somesalt"))
	if err != nil {
		t.Fatal(err)
	}
	if phc != referenceVector {
		t.Errorf("Hash = %q\nwant   %q", phc, referenceVector)
	}
	ok, err := password.Verify("password", referenceVector)
	if err != nil || !ok {
		t.Errorf("Verify(reference vector) = %v, %v", ok, err)
	}
}

func TestHashMatchesArgon2(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, 16)
	phc, err := password.Hash("pässwörd ✓", tiny, bytes.NewReader(salt))
	if err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte("pässwörd ✓"), salt, tiny.Time, tiny.Memory, tiny.Threads, tiny.KeyLen)
	want := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(key)
	if phc != want {
		t.Errorf("Hash = %q, want %q", phc, want)
	}
}

func TestHashRefusesBadParams(t *testing.T) {
	cases := []struct {
		name string
		p    password.Params
	}{
		{"zero time", password.Params{Memory: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16}},
		{"zero threads", password.Params{Memory: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16}},
		{"memory below 8 KiB per lane", password.Params{Memory: 15, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16}},
		{"memory over 1 GiB", password.Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
		{"short salt", password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 4}},
		{"short key", password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 8, SaltLen: 16}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := password.Hash("whatever password", c.p, rand.Reader); err == nil {
				t.Error("Hash accepted bad parameters")
			}
		})
	}
}

func TestHashRandFailure(t *testing.T) {
	if _, err := password.Hash("whatever password", tiny, strings.NewReader("short")); err == nil {
		t.Error("Hash with a failing reader succeeded")
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, err := password.Hash("x", tiny, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	cases := []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"version 16", with(2, "v=16")},
		{"missing field", strings.Join(parts[:5], "$")},
		{"extra field", good + "$x"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"parameters out of order", with(3, "t=1,m=64,p=1")},
		{"parameter not a number", with(3, "m=64,t=one,p=1")},
		{"negative parameter", with(3, "m=64,t=-1,p=1")},
		{"extra parameter", with(3, "m=64,t=1,p=1,keyid=x")},
		{"memory over 1 GiB", with(3, "m=2097152,t=1,p=1")},
		{"memory over uint32", with(3, "m=4294967296,t=1,p=1")},
		{"time over 100", with(3, "m=64,t=101,p=1")},
		{"zero time", with(3, "m=64,t=0,p=1")},
		{"threads over 64", with(3, "m=65536,t=1,p=255")},
		{"threads over uint8", with(3, "m=65536,t=1,p=256")},
		{"salt not base64", with(4, "!!!!")},
		{"salt padded", with(4, parts[4]+"==")},
		{"salt too short", with(4, "YWJj")},
		{"hash not base64", with(5, "***")},
		{"hash too short", with(5, "YWJjZA")},
		{"overlong", good + strings.Repeat("A", 600)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := password.Verify("x", c.phc)
			if err == nil || ok {
				t.Fatalf("Verify(%q) = %v, %v; want an error", c.phc, ok, err)
			}
			if !errors.Is(err, password.ErrMalformedHash) {
				t.Errorf("error %v does not wrap ErrMalformedHash", err)
			}
		})
	}
}

func TestVerifyKeepsStoredParams(t *testing.T) {
	// A hash made under other parameters (say, before DefaultParams rose) still verifies.
	for _, p := range []password.Params{
		{Memory: 32, Time: 3, Threads: 2, KeyLen: 16, SaltLen: 8},
		{Memory: 128, Time: 1, Threads: 4, KeyLen: 64, SaltLen: 32},
	} {
		t.Run("m="+strconv.Itoa(int(p.Memory)), func(t *testing.T) {
			phc, err := password.Hash("older hash", p, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := password.Verify("older hash", phc); err != nil || !ok {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := password.Hash("correct horse battery staple", password.DefaultParams, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseParams(t *testing.T) {
	good := []struct {
		in   string
		want password.Params
	}{
		{"m=19456,t=2,p=1", password.DefaultParams},
		{"m=65536,t=3,p=4", password.Params{Memory: 65536, Time: 3, Threads: 4, KeyLen: 32, SaltLen: 16}},
		{" p=2, t=2 ,m=20000", password.Params{Memory: 20000, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16}},
	}
	for _, c := range good {
		got, err := password.ParseParams(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseParams(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := password.ParseParams(got.String()); err != nil || again != got {
			t.Errorf("ParseParams(%q.String()) = %+v, %v", c.in, again, err)
		}
	}
	bad := []string{
		"", "m=19456,t=2", "m=19456,t=2,p=1,m=20000", "m=19456,t=2,p=1,x=3",
		"m=19455,t=2,p=1", "m=19456,t=1,p=1", "m=19456,t=2,p=0", // below SPEC's minimum
		"m=2097152,t=2,p=1", "m=19456,t=101,p=1", "m=19456,t=2,p=65", // above the bounds
		"m=19456,t=2,p=300", "m=-1,t=2,p=1", "m=1e6,t=2,p=1", "m=19456;t=2;p=1",
	}
	for _, in := range bad {
		if p, err := password.ParseParams(in); err == nil {
			t.Errorf("ParseParams(%q) = %+v, want an error", in, p)
		}
	}
}

func TestWeaker(t *testing.T) {
	def := password.DefaultParams
	authelia := password.Params{Memory: 65536, Time: 3, Threads: 4, KeyLen: 32, SaltLen: 16}
	with := func(p password.Params, change func(*password.Params)) password.Params {
		change(&p)
		return p
	}
	oneLane := with(authelia, func(p *password.Params) { p.Threads = 1 })
	cases := []struct {
		name          string
		stored, asked password.Params
		want          bool
	}{
		{"same cost", def, def, false},
		{"more memory asked", def, authelia, true},
		{"more passes asked", def, with(def, func(p *password.Params) { p.Time = 3 }), true},
		{"a longer salt asked", with(def, func(p *password.Params) { p.SaltLen = 8 }), def, true},
		{"a longer hash asked", with(def, func(p *password.Params) { p.KeyLen = 16 }), def, true},
		{"stronger than asked", authelia, def, false},
		{"fewer lanes asked, same cost", authelia, oneLane, false},
		{"more lanes asked, same cost", oneLane, authelia, false},
	}
	for _, c := range cases {
		if got := c.stored.Weaker(c.asked); got != c.want {
			t.Errorf("%s: Weaker = %v, want %v", c.name, got, c.want)
		}
	}
}
