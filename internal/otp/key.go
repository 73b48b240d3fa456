package otp

import (
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// KeySize is the length in bytes of a generated secret: 160 bits, the size RFC 4226 recommends
// and the output size of HMAC-SHA1.
const KeySize = 20

// GenerateKey reads a new secret of KeySize bytes from r, which is crypto/rand.Reader in
// production (tests inject their own). It reads exactly KeySize bytes and fails if r has fewer.
func GenerateKey(r io.Reader) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(r, key); err != nil {
		return nil, fmt.Errorf("otp: generate key: %w", err)
	}
	return key, nil
}

// b32 is the RFC 4648 alphabet without padding, the form authenticator apps show and accept.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeKey answers key as upper-case base32 (RFC 4648) without padding.
func EncodeKey(key []byte) string {
	return b32.EncodeToString(key)
}

// ErrEmptyKey is returned by DecodeKey for a string with no key in it: an empty secret would
// make every code predictable.
var ErrEmptyKey = errors.New("otp: empty key")

// DecodeKey parses a base32 secret as people type or paste it: lower case, spaces (and other
// white space) and missing or present padding are all accepted.
func DecodeKey(s string) ([]byte, error) {
	s = strings.ToUpper(stripSpace(s))
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, ErrEmptyKey
	}
	// Decode with the padding restored: the unpadded decoder silently drops a dangling final
	// group (a key of 9 characters would lose its last one), the padded one refuses it.
	s += strings.Repeat("=", (8-len(s)%8)%8)
	key, err := base32.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("otp: invalid base32 key: %w", err)
	}
	return key, nil
}

// GroupKey formats a base32 secret for people to read and type: groups of four characters
// separated by single spaces, as in "JBSW Y3DP EHPK 3PXP". White space already in s is
// dropped first, so grouping twice changes nothing.
func GroupKey(s string) string {
	s = stripSpace(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// KeyURI answers the otpauth:// URI that authenticator apps import (the "Key Uri Format" of
// Google Authenticator), with the parameters in this order:
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
//
// issuer and account are percent-encoded as path segments in the label; issuer must not
// contain ':' (the caller validates). Query values are percent-encoded with spaces as %20
// rather than '+', which some apps show literally. The issuer appears both in the label and
// as a parameter because older apps read only one or the other. An empty issuer is left out
// of both. algorithm, digits and period are always written, so no app has to guess.
func KeyURI(issuer, account string, key []byte, p Params) string {
	label := url.PathEscape(account)
	if issuer != "" {
		label = url.PathEscape(issuer) + ":" + label
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(label)
	b.WriteString("?secret=")
	b.WriteString(EncodeKey(key))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(queryEscape(issuer))
	}
	b.WriteString("&algorithm=")
	b.WriteString(p.Algorithm.String())
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(p.Digits))
	b.WriteString("&period=")
	b.WriteString(strconv.Itoa(p.Period))
	return b.String()
}

func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
