// Package backupcode makes and checks one-time backup codes for the second factor.
//
// A code is 16 characters of a 32-character alphabet, 80 bits, shown as xxxx-xxxx-xxxx-xxxx.
// Typed input is accepted in any case, with or without dashes or spaces (Normalize). Codes are
// never stored: the store keeps MAC(server key, account salt, code), and a typed code is found
// by computing its MAC and looking that up, so a stolen database yields no usable code and a
// lookup needs no scan.
package backupcode

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// Alphabet is Crockford's base32 alphabet in lower case. 32 characters cannot be had from
// digits and letters once all of 0/o and 1/l/i are dropped (that leaves 31), so, as Crockford
// does, it keeps 0 and 1 and drops o, i and l: no two characters in it look alike. It also drops
// u, Crockford's choice, which keeps accidental words out of codes. Normalize reads o as 0 and
// i or l as 1, so a code misread from paper still works; no entropy is lost.
const Alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Length is the number of characters of a code, 5 bits each: 80 bits.
const Length = 16

// SaltLen is the length of an account's salt.
const SaltLen = 16

// maxInput bounds what Normalize looks at: a formatted code with generous spacing fits.
const maxInput = 64

// ErrMalformed is typed input that cannot be a backup code.
var ErrMalformed = errors.New("backupcode: malformed code")

// decode maps an input byte to its normalised character, or 0 when it has none.
var decode = func() (t [256]byte) {
	for i := range len(Alphabet) {
		c := Alphabet[i]
		t[c] = c
		if c >= 'a' && c <= 'z' {
			t[c-'a'+'A'] = c
		}
	}
	for _, alias := range []struct{ from, to byte }{{'o', '0'}, {'O', '0'}, {'i', '1'}, {'I', '1'}, {'l', '1'}, {'L', '1'}} {
		t[alias.from] = alias.to
	}
	return t
}()

// Generate answers n distinct codes in normalised form, drawn uniformly with bytes from rand
// (crypto/rand.Reader when nil).
func Generate(rand io.Reader, n int) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("backupcode: cannot make %d codes", n)
	}
	r := orDefault(rand)
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	var buf [Length * 5 / 8]byte
	for len(codes) < n {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("backupcode: reading random bytes: %w", err)
		}
		code := encode(buf)
		if seen[code] {
			continue // 2^-80 with a real source; a broken one must not yield duplicates
		}
		seen[code] = true
		codes = append(codes, code)
	}
	return codes, nil
}

// encode spends the 80 bits five at a time: 32 = 2^5, so every character is uniform, with no
// modulo bias.
func encode(b [Length * 5 / 8]byte) string {
	var out [Length]byte
	var acc uint64
	bits := 0
	i := 0
	for _, x := range b {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[i] = Alphabet[acc>>bits&31]
			i++
		}
	}
	return string(out[:])
}

// Format shows a normalised code as xxxx-xxxx-xxxx-xxxx. Anything not Length bytes long is
// answered unchanged.
func Format(code string) string {
	if len(code) != Length {
		return code
	}
	return code[0:4] + "-" + code[4:8] + "-" + code[8:12] + "-" + code[12:16]
}

// Normalize turns typed input into a code's normalised form: it drops dashes, spaces and tabs,
// folds case and reads look-alikes (o as 0, i and l as 1). It answers ErrMalformed unless
// exactly Length characters of Alphabet remain. Input over 64 bytes is refused before any work.
func Normalize(input string) (string, error) {
	if len(input) > maxInput {
		return "", ErrMalformed
	}
	var out [Length]byte
	n := 0
	for i := range len(input) {
		c := input[i]
		switch c {
		case '-', ' ', '\t':
			continue
		}
		d := decode[c]
		if d == 0 || n == Length {
			return "", ErrMalformed
		}
		out[n] = d
		n++
	}
	if n != Length {
		return "", ErrMalformed
	}
	return string(out[:]), nil
}

// MAC answers HMAC-SHA256 under key of salt followed by code, which must be in normalised form.
// It is what the store keeps and looks codes up by. (salt||code is unambiguous: code's length
// is fixed.)
func MAC(key, salt []byte, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(salt)
	m.Write([]byte(code))
	return m.Sum(nil)
}

// NewSalt answers a fresh per-account salt of SaltLen bytes from rand (crypto/rand.Reader when
// nil).
func NewSalt(rand io.Reader) ([]byte, error) {
	salt := make([]byte, SaltLen)
	if _, err := io.ReadFull(orDefault(rand), salt); err != nil {
		return nil, fmt.Errorf("backupcode: reading random bytes: %w", err)
	}
	return salt, nil
}

func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
