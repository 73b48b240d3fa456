package account

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/errs"
)

// UnsafeRune reports whether r may not appear in text people give (names, emails; SPEC §5
// "text from people is text"), and may not be printed raw by the command line. Control
// characters (C0, DEL and C1, all of which unicode.IsControl covers) can move a terminal's
// cursor, clear its screen or set its title; line and paragraph separators break a line where
// none is expected; bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066
// to U+2069) make text read otherwise than it is ("evil\u202Etxt.exe"). Other format
// characters (joiners, marks such as U+200F) stay allowed: names in many scripts need them.
func UnsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// checkText refuses text that is not valid UTF-8 or holds a character UnsafeRune forbids,
// with a message that says the rule for field.
func checkText(field, s string) error {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, UnsafeRune) {
		return errs.E(errs.Invalid, "The %s may not contain control characters (such as line breaks, tabs or terminal escapes) or bidirectional overrides.", field)
	}
	return nil
}
