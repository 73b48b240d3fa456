package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/account"
)

// shown escapes, as strconv.Quote does, the characters that account.UnsafeRune forbids and
// bytes that are not UTF-8, leaving the rest as it is: rows written before the rule existed,
// or by hand, must not act on the terminal of the admin who lists them (SPEC §5).
func shown(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, account.UnsafeRune) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case account.UnsafeRune(r):
			q := strconv.QuoteRune(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// escapeJSON rewrites as \uXXXX escapes the characters of encoded JSON that account.UnsafeRune
// forbids: encoding/json escapes C0 controls but leaves DEL, C1 controls and bidirectional
// overrides raw. Outside strings JSON holds none of them, so the result is the same JSON.
func escapeJSON(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r != '\n' && account.UnsafeRune(r) }) {
		return b
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != '\n' && account.UnsafeRune(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:n])
		}
		b = b[n:]
	}
	return out.Bytes()
}
