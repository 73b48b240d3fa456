package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// attack is text that changes a terminal's title, clears its screen (also by the C1 control
// sequence introducer) and turns what follows right to left.
const attack = "Eve\x1b]0;pwned\x07\x1b[2J\u009b2J\x7f\u202eexe.txt"

// TestCLIPrintsNoControlCharacters: rows written before names were checked (here straight
// through the store, past the service's rule) cannot attack the terminal of an admin who
// lists them (SPEC §5): every command prints their control characters escaped.
func TestCLIPrintsNoControlCharacters(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	mustCLI(t, data, "user", "add", "eve", "--email", "eve@example.org")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(data, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(q store.Queries) error {
		u, err := q.UserByName(ctx, "eve")
		if err != nil {
			return err
		}
		u.Name, u.Email = attack, "eve\u009b@example.org"
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		return q.AddEvent(ctx, &store.Event{At: time.Now(), Actor: "cli\x1b[2J", User: "eve", Action: "user.renamed", Detail: "to " + attack})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"user", "show", "eve"}, {"user", "show", "eve", "--json"},
		{"user", "list"}, {"user", "list", "--json"},
		{"audit"}, {"audit", "--json"}, {"audit", "--user", "eve"},
	} {
		out := mustCLI(t, data, args...)
		if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && isUnsafeForTerminal(r) }); i >= 0 {
			t.Errorf("twofold %s printed a raw control character at byte %d:\n%q", strings.Join(args, " "), i, out)
		}
		if !strings.Contains(out, "009b") {
			t.Errorf("twofold %s does not show the escaped text:\n%s", strings.Join(args, " "), out)
		}
	}
	// Errors too: an argument with an escape sequence is named escaped.
	for _, args := range [][]string{{"user", "list", "--bogus\x1b[2J"}, {"frobnicate\x1b[2J"}} {
		r := runCLI(t, data, args...)
		if r.code == 0 || strings.ContainsRune(r.stderr, 0x1b) || !strings.Contains(r.stderr, `\x1b[2J`) {
			t.Errorf("twofold %q: exit %d, stderr %q, want the argument escaped", args, r.code, r.stderr)
		}
	}
	// JSON output still reads back as the stored text.
	if got := str(cliJSON(t, data, "user", "show", "eve", "--json"), "name"); got != attack {
		t.Errorf("user show --json: name %q, want %q", got, attack)
	}
}

// isUnsafeForTerminal is what a terminal may act on rather than show.
func isUnsafeForTerminal(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func TestShown(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Zoë O'Brien", "Zoë O'Brien"},
		{"محمد\u200fعلي", "محمد\u200fعلي"}, // a right-to-left mark is not an override
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"tab\there", `tab\there`},
		{"c1\u009bx", `c1\u009bx`},
		{"rlo\u202eexe", `rlo\u202eexe`},
		{"bad\xffbyte", `bad\xffbyte`},
	} {
		if got := shown(tt.in); got != tt.want {
			t.Errorf("shown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	in := []byte("{\"name\": \"a\u009b\x7f\u202e\u2066b\"}\n")
	if got, want := string(escapeJSON(in)), "{\"name\": \"a\\u009b\\u007f\\u202e\\u2066b\"}\n"; got != want {
		t.Errorf("escapeJSON = %q, want %q", got, want)
	}
}
