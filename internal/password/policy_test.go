package password_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/password"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		pw       string
		username string
		want     error
	}{
		{"empty", "", "alice", password.ErrTooShort},
		{"11 characters", "abcdefghijk", "alice", password.ErrTooShort},
		{"12 characters exactly", "abcdefghijkm", "alice", nil},
		{"256 characters", strings.Repeat("xq", 128), "alice", nil},
		{"257 characters", strings.Repeat("xq", 128) + "z", "alice", password.ErrTooLong},
		{"12 emoji", strings.Repeat("🔐", 12), "alice", nil},
		{"11 emoji are 44 bytes but 11 characters", strings.Repeat("🔐", 11), "alice", password.ErrTooShort},
		{"256 emoji", strings.Repeat("🔐", 256), "alice", nil},
		{"257 emoji", strings.Repeat("🔐", 257), "alice", password.ErrTooLong},
		{"accents", "crème brûlée forever", "alice", nil},
		{"no composition rules", "aaaaaaaaaaaaaaaa", "alice", nil},
		{"invalid UTF-8", "abcdefghijk\xff", "alice", password.ErrInvalidText},
		{"common", "scandinavian", "alice", password.ErrCommon},
		{"common, other case", "BusinessBabe", "alice", password.ErrCommon},
		{"common, 13 characters", "contortionist", "alice", password.ErrCommon},
		{"contains username", "my name is alice!", "alice", password.ErrContainsUsername},
		{"contains username, other case", "my name is ALICE!", "Alice", password.ErrContainsUsername},
		{"is the username", "alice.wonderland", "alice.wonderland", password.ErrContainsUsername},
		{"no username", "my name is alice!", "", nil},
		{"blank username", "my name is alice!", "  ", nil},
		{"length before other reasons", "alice", "alice", password.ErrTooShort},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := password.Check(c.pw, c.username)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Check(%q, %q) = %v, want %v", c.pw, c.username, err, c.want)
			}
			if err != nil {
				var pe *password.PolicyError
				if !errors.As(err, &pe) {
					t.Errorf("error %T is not a *PolicyError", err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "Password ") || !strings.HasSuffix(msg, ".") {
					t.Errorf("message %q is not a sentence for the user", msg)
				}
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"short", password.ErrTooShort, "Password must be at least 12 characters."},
		{"long", password.ErrTooLong, "Password must be at most 256 characters."},
		{"common", password.ErrCommon, "Password is one of the most common passwords; choose another."},
		{"username", password.ErrContainsUsername, "Password must not contain your username."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err.Error() != c.want {
				t.Errorf("message %q, want %q", c.err.Error(), c.want)
			}
		})
	}
}

func TestIsCommon(t *testing.T) {
	cases := []struct {
		pw   string
		want bool
	}{
		{"password", true}, // rank 1
		{"PASSWORD", true},
		{"123456", true},
		{"qwerty", true},
		{"letmein", true},
		{"scandinavian", true},
		{"correct horse battery staple", false},
		{"", false},
	}
	for _, c := range cases {
		t.Run(c.pw, func(t *testing.T) {
			if got := password.IsCommon(c.pw); got != c.want {
				t.Errorf("IsCommon(%q) = %v, want %v", c.pw, got, c.want)
			}
		})
	}
}

func TestTemporary(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := password.Temporary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != password.TemporaryLength {
			t.Fatalf("%q has %d characters", pw, len(pw))
		}
		if strings.ContainsAny(pw, "0Oo1lIi") {
			t.Errorf("%q has a look-alike character", pw)
		}
		if err := password.Check(pw, "bob"); err != nil {
			t.Errorf("Check(%q) = %v", pw, err)
		}
		if seen[pw] {
			t.Errorf("%q drawn twice", pw)
		}
		seen[pw] = true
	}
}

func TestTemporaryDeterministic(t *testing.T) {
	// Bytes 248..255 would bias b%31 and are skipped; 0..30 map to the alphabet in order.
	src := append(bytes.Repeat([]byte{255}, 5), []byte{0, 1, 2, 30, 31, 62, 247, 248}...)
	src = append(src, bytes.Repeat([]byte{9}, 40)...)
	pw, err := password.Temporary(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	const want = "234z22zbbbbbbbbbbbbb" // 0→2 1→3 2→4 30→z 31→2 62→2 247→z, 248 skipped, 9→b
	if pw != want {
		t.Errorf("Temporary = %q, want %q", pw, want)
	}
}

func TestTemporaryRandFailure(t *testing.T) {
	if _, err := password.Temporary(bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Error("Temporary with an exhausted reader succeeded")
	}
}
