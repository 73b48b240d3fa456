package password

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	// Only the data package: it holds gzip-compressed byte literals and does nothing at init.
	// The library's frequency package would decode every list at init.
	"github.com/ccojocar/zxcvbn-go/data"
)

// Length bounds of a password, in Unicode code points (SPEC).
const (
	MinLength = 12
	MaxLength = 256
)

// commonLimit is how many of the ranked list's first entries count as common: the SPEC's 10,000.
// The list in use has 7,141, so all of them count.
const commonLimit = 10000

// PolicyError is a password the policy refuses. Its Error is a sentence to show the user as is.
type PolicyError struct{ msg string }

// Error answers the sentence for the user.
func (e *PolicyError) Error() string { return e.msg }

// The reasons Check gives; compare with errors.Is.
var (
	// ErrInvalidText is a password that is not valid UTF-8.
	ErrInvalidText = &PolicyError{"Password contains characters that are not valid text."}
	// ErrTooShort is a password of fewer than MinLength characters.
	ErrTooShort = &PolicyError{fmt.Sprintf("Password must be at least %d characters.", MinLength)}
	// ErrTooLong is a password of more than MaxLength characters.
	ErrTooLong = &PolicyError{fmt.Sprintf("Password must be at most %d characters.", MaxLength)}
	// ErrCommon is a password among the most common ones.
	ErrCommon = &PolicyError{"Password is one of the most common passwords; choose another."}
	// ErrContainsUsername is a password that contains the account's username.
	ErrContainsUsername = &PolicyError{"Password must not contain your username."}
)

// Check answers nil when pw may be an account's password, else a *PolicyError saying why not.
// Lengths count code points; no composition rules apply (SPEC). The username test ignores case
// and is skipped when username is empty.
func Check(pw, username string) error {
	if !utf8.ValidString(pw) {
		return ErrInvalidText
	}
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return ErrTooShort
	case n > MaxLength:
		return ErrTooLong
	case IsCommon(pw):
		return ErrCommon
	}
	if u := strings.TrimSpace(username); u != "" && strings.Contains(strings.ToLower(pw), strings.ToLower(u)) {
		return ErrContainsUsername
	}
	return nil
}

// IsCommon reports whether pw, ignoring case, is among the most common passwords.
func IsCommon(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}

// commonPasswords decodes the list on first use: it costs about a megabyte of heap, which a
// process that never checks a password (a migration, a CLI command) should not pay.
var commonPasswords = sync.OnceValue(loadCommon)

func loadCommon() map[string]struct{} {
	raw, err := data.Asset("data/Passwords.json")
	if err != nil {
		panic("password: embedded common-password list: " + err.Error()) // a broken build
	}
	var doc struct{ List []string }
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic("password: embedded common-password list: " + err.Error())
	}
	list := doc.List[:min(len(doc.List), commonLimit)]
	set := make(map[string]struct{}, len(list))
	for _, pw := range list {
		set[strings.ToLower(pw)] = struct{}{}
	}
	return set
}

// temporaryAlphabet has no 0, o, 1, l or i, so a temporary password read off an email or a
// screen is typed right; lower case only, as it is often typed on a phone.
const temporaryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// TemporaryLength is the length of Temporary's passwords: 20 characters of a 31-character
// alphabet, about 99 bits.
const TemporaryLength = 20

// Temporary answers a random password for an admin-issued or emailed reset, drawn uniformly from
// an alphabet without look-alike characters, with bytes from rand (crypto/rand.Reader when nil).
// It passes Check unless it happens to contain the username: for a 3-character username about
// once in 1,650 draws, for 6 characters once in 59 million; a caller that must be sure draws
// again while Check fails.
func Temporary(rand io.Reader) (string, error) {
	const n = byte(len(temporaryAlphabet))
	const limit = 256 / int(n) * int(n) // bytes at or above this are dropped, so b%n has no bias
	out := make([]byte, 0, TemporaryLength)
	buf := make([]byte, TemporaryLength)
	r := orDefault(rand)
	for len(out) < TemporaryLength {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("password: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < TemporaryLength {
				out = append(out, temporaryAlphabet[b%n])
			}
		}
	}
	return string(out), nil
}
