// Package otp implements the one-time passwords of Twofold's second factor: HOTP (RFC 4226),
// TOTP (RFC 6238), the base32 secrets authenticator apps exchange, otpauth:// key URIs and
// their QR codes. It is pure code: randomness comes from the caller's io.Reader and nothing
// here touches the clock, the disk or the network.
package otp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"strconv"
	"time"
)

// Algorithm is the HMAC hash function of a one-time password.
type Algorithm int

// The hash functions RFC 6238 allows. SHA1 is what nearly every authenticator app assumes.
const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

// String answers the name used in otpauth:// URIs and by oathtool: "SHA1", "SHA256" or
// "SHA512"; an unknown value is shown as "Algorithm(N)".
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// newHash answers the hash constructor; an unknown algorithm is a programming error.
func (a Algorithm) newHash() func() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	panic("otp: unknown algorithm " + a.String())
}

// Params are the settings a TOTP secret is shared with: they must match the authenticator
// app's or no code will ever verify.
type Params struct {
	Algorithm Algorithm
	Digits    int // length of a code, MinDigits..MaxDigits
	Period    int // seconds per time step, positive
}

// Default is what authenticator apps assume when a key URI says nothing else.
var Default = Params{Algorithm: SHA1, Digits: 6, Period: 30}

// MinDigits and MaxDigits bound the length of a code: RFC 4226 asks for at least six digits,
// and the 31-bit truncated HMAC has at most ten.
const (
	MinDigits = 6
	MaxDigits = 10
)

// Valid reports whether p can be used: a known algorithm, MinDigits..MaxDigits digits and a
// positive period. HOTP, TOTP and StepAt panic on what Valid refuses; Verify answers false.
func (p Params) Valid() bool {
	return p.Algorithm >= SHA1 && p.Algorithm <= SHA512 &&
		p.Digits >= MinDigits && p.Digits <= MaxDigits &&
		p.Period > 0
}

// pow10[d] is 10^d, the modulus that keeps the last d digits.
var pow10 = [MaxDigits + 1]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// HOTP answers the RFC 4226 one-time password of key at counter, zero-padded to digits
// characters (leading zeros are part of the code). digits must be MinDigits..MaxDigits and
// alg a known Algorithm, or HOTP panics: both come from configuration, not from users.
func HOTP(key []byte, counter uint64, digits int, alg Algorithm) string {
	if digits < MinDigits || digits > MaxDigits {
		panic("otp: unsupported number of digits " + strconv.Itoa(digits))
	}
	var buf [MaxDigits]byte
	return string(hotp(hmac.New(alg.newHash(), key), counter, digits, &buf))
}

// hotp is HOTP with mac, an HMAC keyed with the key, which it resets first (so one mac serves
// several counters): it writes the code into buf and answers it, allocating nothing.
func hotp(mac hash.Hash, counter uint64, digits int, buf *[MaxDigits]byte) []byte {
	mac.Reset()
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	var sumBuf [sha512.Size]byte
	sum := mac.Sum(sumBuf[:0])

	// Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks 4 bytes.
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	code := uint64(bin) % pow10[digits]

	// Fill from the right so the leading zeros come for free.
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + code%10)
		code /= 10
	}
	return buf[:digits]
}

// StepAt answers the TOTP time step of t: floor(Unix seconds / period), with T0 = 1970.
// It uses 64-bit arithmetic, so it stays right past 2^32 seconds (the year 2106). Times before
// 1970 give negative steps, floored as well; RFC 6238 does not define codes for them, and
// Verify never accepts one. period must be positive or StepAt panics.
func StepAt(t time.Time, period int) int64 {
	if period <= 0 {
		panic("otp: period must be positive")
	}
	sec, p := t.Unix(), int64(period)
	step := sec / p
	if sec%p < 0 { // Go truncates toward zero; floor instead.
		step--
	}
	return step
}

// TOTP answers the RFC 6238 one-time password of key at time t with the settings p. It panics
// if p is not Valid. Times before 1970 are not supported (see StepAt).
func TOTP(key []byte, t time.Time, p Params) string {
	return HOTP(key, uint64(StepAt(t, p.Period)), p.Digits, p.Algorithm)
}

// Verify checks code against the time steps of t's step plus and minus skew (to allow for
// clock drift and typing time), considering only steps strictly greater than after, the step
// last accepted for this key, so that a code cannot be replayed; pass -1 or math.MinInt64 when
// none was accepted yet. It answers the matched step, which the caller stores as the next
// after. If a code matches several steps (a one-in-a-million coincidence), the latest wins,
// since that refuses the most replays.
//
// A code of the wrong length or with anything but ASCII digits is simply refused, as are
// invalid Params; the caller trims spaces if it wants to. Every candidate step is computed and
// compared in constant time, with no early exit, so timing does not tell which step matched or
// how much of the code was right. skew is meant to be small (usually 1); a negative one is
// taken as 0.
func Verify(key []byte, code string, t time.Time, p Params, skew int, after int64) (step int64, ok bool) {
	if !p.Valid() || len(code) != p.Digits {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	skew = max(skew, 0)
	offset, ok := Match(key, code, t, p, -int64(skew), int64(skew), func(step, _ int64) bool { return step > after })
	if !ok {
		return 0, false
	}
	return StepAt(t, p.Period) + offset, true
}

// Match compares code with the codes of the steps from lo to hi steps away from t's step and
// answers the offset of the latest one that matched and that eligible accepts (it is given the
// step and its offset). Every step is computed and compared in constant time, with no early
// exit, and eligibility, which must depend on public values only, is folded in with bit
// operations, so that timing tells nothing of what matched. Steps before 1970 never match. p
// must be Valid.
func Match(key []byte, code string, t time.Time, p Params, lo, hi int64, eligible func(step, offset int64) bool) (offset int64, ok bool) {
	given := []byte(code)
	cur := StepAt(t, p.Period)
	mac := hmac.New(p.Algorithm.newHash(), key)
	var buf [MaxDigits]byte
	var found int
	var matched int64
	for i := lo; i <= hi; i++ {
		s := cur + i
		eq := subtle.ConstantTimeCompare(given, hotp(mac, uint64(max(s, 0)), p.Digits, &buf))
		hit := eq & boolInt(s >= 0) & boolInt(eligible(s, i))
		mask := -int64(hit) // all ones on a hit
		matched = matched&^mask | i&mask
		found |= hit
	}
	return matched, found == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
