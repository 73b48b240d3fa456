// Package password hashes and checks account passwords.
//
// Hashes are argon2id (Twofold's own, package argon2id, byte-identical to x/crypto's) in the
// PHC string format that the reference implementation writes
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash, unpadded standard base64), so a stored hash carries
// its own parameters and old hashes keep verifying after DefaultParams change. Because each
// hash needs Params.Memory KiB, servers hash through a Hasher, which bounds how many run and
// how many wait, and keeps one buffer per worker between hashes (released when idle).
//
// The policy (Check) follows the SPEC: 12 to 256 Unicode code points, no composition rules,
// refused when common or when it contains the username. The common-password list is not copied
// into this repository: it is the ranked "Passwords" list that the zxcvbn-go module
// (github.com/ccojocar/zxcvbn-go, MIT, a maintained fork of nbutton23/zxcvbn-go) embeds, taken
// from the original zxcvbn frequency lists. It holds 7,141 entries, fewer than the 10,000 the
// SPEC asks for; all of them are used (see commonLimit): no module reachable through the Go
// module proxy was found that ships a longer ranked list.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twofold-auth/twofold/internal/argon2id"
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	KeyLen  uint32 // bytes of hash output
	SaltLen uint32 // bytes of random salt
}

// DefaultParams are the OWASP (and SPEC) minimum for argon2id: m=19 MiB, t=2, p=1.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// Bounds on parameters, for new hashes and for stored strings alike: a stored string is data,
// and one that asks for absurd work must fail rather than exhaust memory or CPU.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 100
	maxThreads   = 64
	minSaltLen   = 8 // the argon2 specification's minimum
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128
	maxPHCLen    = 512 // far above any string within the bounds above
)

// ErrMalformedHash is wrapped by every error Verify returns: the stored string is not an
// argon2id PHC string this package accepts.
var ErrMalformedHash = errors.New("password: malformed hash")

// validate says which bound p breaks, if any.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d out of range 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		// argon2 needs 8 KiB per lane; x/crypto would silently raise it, changing the hash.
		return fmt.Errorf("memory %d KiB out of range %d..%d", p.Memory, 8*uint32(p.Threads), maxMemoryKiB)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d out of range %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d out of range %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	}
	return nil
}

// Hash hashes pw with argon2id under p and a fresh salt read from rand (crypto/rand.Reader
// when nil), and answers the PHC string.
func Hash(pw string, p Params, rand io.Reader) (string, error) {
	return hashIn(nil, pw, p, rand)
}

// hashIn is Hash computed in m (fresh memory when m is nil).
func hashIn(m *argon2id.Memory, pw string, p Params, rand io.Reader) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("password: bad parameters: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(orDefault(rand), salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	return encode(p, salt, idKey(m, pw, salt, p)), nil
}

// encode writes the PHC string exactly as the reference implementation does.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2id.Version,
		p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether pw matches the PHC string phc. It answers an error (wrapping
// ErrMalformedHash) only when phc cannot be parsed or asks for parameters out of bounds; a
// wrong password is (false, nil).
func Verify(pw, phc string) (bool, error) {
	p, salt, want, err := decode(phc)
	if err != nil {
		return false, err
	}
	return matches(nil, pw, p, salt, want), nil
}

// matches reports, in constant time, whether pw hashed under p and salt in m (fresh memory
// when m is nil) is want.
func matches(m *argon2id.Memory, pw string, p Params, salt, want []byte) bool {
	return subtle.ConstantTimeCompare(idKey(m, pw, salt, p), want) == 1
}

// idKey is argon2id of pw and salt under p, in m's memory (fresh memory when m is nil).
func idKey(m *argon2id.Memory, pw string, salt []byte, p Params) []byte {
	if m == nil {
		return argon2id.Key([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
	return m.Key([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// decode parses and bounds-checks a PHC string before any expensive work.
func decode(phc string) (Params, []byte, []byte, error) {
	bad := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
	}
	if len(phc) > maxPHCLen {
		return bad("longer than %d bytes", maxPHCLen)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 fields separated by $")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm %q is not argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2id.Version) {
		return bad("version field %q is not v=%d", parts[2], argon2id.Version)
	}
	var p Params
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return bad("want parameters m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return bad("want parameters m=…,t=…,p=…")
		}
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return bad("parameter %s%q is not a number", name, s)
		}
		vals[i] = v
	}
	if vals[2] > maxThreads {
		return bad("threads %d out of range 1..%d", vals[2], maxThreads)
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return bad("salt is not unpadded base64")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return bad("hash is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return bad("%v", err)
	}
	return p, salt, key, nil
}

// orDefault answers r, or crypto/rand.Reader when r is nil.
func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// ParseParams reads the operator's argon2id cost, "m=KIB,t=N,p=N" (each of the three once, in
// any order), as serve's --argon2 takes it. The cost is never below DefaultParams (SPEC §5's
// minimum: m=19456, t=2, p=1) nor above the bounds every hash is held to; the key and salt
// lengths stay DefaultParams'.
func ParseParams(s string) (Params, error) {
	p := DefaultParams
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || (name != "m" && name != "t" && name != "p") {
			return Params{}, fmt.Errorf("%q: want m=KIB,t=N,p=N", s)
		}
		if seen[name] {
			return Params{}, fmt.Errorf("%q: %s= given twice", s, name)
		}
		seen[name] = true
		v, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return Params{}, fmt.Errorf("%q: %s=%q is not a whole number", s, name, val)
		}
		switch name {
		case "m":
			p.Memory = uint32(v)
		case "t":
			p.Time = uint32(v)
		case "p":
			if v > maxThreads {
				return Params{}, fmt.Errorf("%q: p=%d is above %d", s, v, maxThreads)
			}
			p.Threads = uint8(v)
		}
	}
	if len(seen) != 3 {
		return Params{}, fmt.Errorf("%q: want all of m=KIB,t=N,p=N", s)
	}
	d := DefaultParams
	if p.Memory < d.Memory || p.Time < d.Time || p.Threads < d.Threads {
		return Params{}, fmt.Errorf("%q is below the minimum m=%d,t=%d,p=%d", s, d.Memory, d.Time, d.Threads)
	}
	if err := p.validate(); err != nil {
		return Params{}, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// String answers p as ParseParams reads it.
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// Weaker reports whether a hash made under p costs less than one under q, so that the
// account's next correct password should replace it (SPEC §5). The cost is the memory, the
// passes and the lengths of salt and hash; the lanes only split the same work, so a hash with
// fewer lanes is not weaker.
func (p Params) Weaker(q Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}
