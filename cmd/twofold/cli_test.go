package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app/apptest"
)

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "version")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "twofold "+testVersion {
		t.Errorf("version: exit %d, printed %q, want \"twofold %s\"", r.code, r.stdout, testVersion)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "twofold user add USERNAME --email EMAIL"},
		{[]string{"--help"}, "twofold user add USERNAME --email EMAIL"},
		{[]string{"user", "--help"}, "twofold user add USERNAME --email EMAIL"},
		{[]string{"user", "add", "--help"}, "usage: twofold user add USERNAME --email EMAIL"},
		{[]string{"options", "list", "-h"}, "usage: twofold options list [--search TEXT]"},
		{[]string{"audit", "--help"}, "usage: twofold audit [--user USERNAME]"},
		{[]string{"serve", "-help"}, "usage: twofold serve [--addr HOST:PORT]"},
		{[]string{"user", "show", "bob", "--help"}, "usage: twofold user show USERNAME"},
	} {
		r = runCLI(t, "", tt.args...)
		if r.code != 0 || !strings.Contains(r.stdout, tt.want) || !strings.Contains(r.stdout, "--data DIR") {
			t.Errorf("twofold %s: exit %d, printed %q, want 0 and %q\nstderr: %s", strings.Join(tt.args, " "), r.code, r.stdout, tt.want, r.stderr)
		}
	}
	data := t.TempDir()
	// Usage errors are found before anything is opened; some cases give no --data, where
	// appending it would change what they test.
	for _, tt := range []struct {
		args []string
		want string
		bare bool
	}{
		{nil, "no command given", true},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, false},
		{[]string{"user"}, "user needs a subcommand", true},
		{[]string{"options"}, "options needs list or set", true},
		{[]string{"user", "frobnicate", "bob"}, "unknown command user frobnicate", false},
		{[]string{"options", "frobnicate"}, "unknown command options frobnicate", false},
		{[]string{"user", "list", "--bogus"}, "unknown flag --bogus", false},
		{[]string{"user", "list", "extra"}, "takes no arguments", false},
		{[]string{"user", "show"}, "takes USERNAME", false},
		{[]string{"user", "show", "bob", "carl"}, "takes USERNAME", false},
		{[]string{"user", "add", "bob"}, "--email is required", false},
		{[]string{"user", "add", "bob", "--email"}, "needs a value", true},
		{[]string{"options", "set", "mfaIssuer"}, "takes KEY VALUE", false},
		{[]string{"user", "groups"}, "takes USERNAME", false},
		{[]string{"user", "groups", "bob", "--add"}, "needs a value", true},
		{[]string{"serve", "--trusted-proxies", "not-an-address"}, "trusted-proxies", false},
	} {
		args := tt.args
		if !tt.bare {
			args = append(slices.Clone(args), "--data", data)
		}
		r := runCLI(t, "", args...)
		if r.code != 2 {
			t.Errorf("twofold %s: exit %d, want 2 (usage)\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("twofold %s: stderr %q, want %q and the usage", strings.Join(args, " "), r.stderr, tt.want)
		}
	}
}

// userKeys are the fields of a user object (SPEC §4: the /me fields plus the admin ones).
var userKeys = []string{"username", "email", "name", "kind", "source", "role", "mfa.policy", "mfa.enrolled",
	"mfa.backup_codes_enabled", "mfa.backup_codes_remaining", "disabled", "password_locked_until", "mfa_locked",
	"mfa_locked_until", "groups"}

func TestCLIUsers(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// Flags after the positional, as SPEC §4 writes them.
	out := mustCLI(t, data, "user", "add", "bob", "--email", "b@x.org", "--external")
	if !strings.Contains(out, `"bob"`) || !strings.Contains(out, "b@x.org") ||
		!strings.Contains(out, `"Password Generated" and "New Password" emails were sent to b@x.org`) ||
		!strings.Contains(out, "outbox "+filepath.Join(data, "outbox")) {
		t.Errorf("user add printed %q, want both emails named and the outbox folder", out)
	}
	// Flags before it, and --data first as well.
	mustCLI(t, "", "user", "add", "--data", data, "--email", "carl@x.org", "--name", "Carl Admin", "--admin", "Carl")

	bob := cliJSON(t, data, "user", "show", "bob", "--json")
	for _, k := range userKeys {
		if !has(bob, k) {
			t.Errorf("user show --json has no %s: %v", k, bob)
		}
	}
	for path, want := range map[string]any{"username": "bob", "email": "b@x.org", "name": "", "kind": "external",
		"source": "local", "role": "user", "mfa.policy": "optional", "mfa.enrolled": false,
		"mfa.backup_codes_enabled": true, "mfa.backup_codes_remaining": 0.0, "disabled": false,
		"password_locked_until": nil, "mfa_locked": false, "mfa_locked_until": nil} {
		if got := get(bob, path); got != want {
			t.Errorf("user show bob --json: %s = %#v, want %#v", path, got, want)
		}
	}

	list := cliJSON(t, data, "user", "list", "--json")
	users, ok := get(list, "users").([]any)
	if !ok || len(users) != 2 {
		t.Fatalf("user list --json: %v", list)
	}
	// Newest first; usernames are kept in lower case.
	if str(users[0], "username") != "carl" || str(users[1], "username") != "bob" {
		t.Errorf("user list --json order: %s, %s", str(users[0], "username"), str(users[1], "username"))
	}
	if str(users[0], "role") != "admin" || str(users[0], "name") != "Carl Admin" || str(users[0], "kind") != "internal" {
		t.Errorf("carl: %v", users[0])
	}
	for _, k := range userKeys {
		if !has(users[0], k) {
			t.Errorf("user list --json has no %s", k)
		}
	}
	if out := mustCLI(t, data, "user", "list"); !strings.Contains(out, "USERNAME") || !strings.Contains(out, "bob") {
		t.Errorf("user list: %q", out)
	}
	if out := mustCLI(t, data, "user", "show", "bob"); !strings.Contains(out, "b@x.org") {
		t.Errorf("user show: %q", out)
	}

	// Refusals exit 1 with the reason.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "BOB", "--email", "other@x.org"}, "taken"},
		{[]string{"user", "add", "bad name", "--email", "n@x.org"}, "1 to 64 characters"},
		{[]string{"user", "add", "dora", "--email", "not an address"}, "email"},
		{[]string{"user", "add", "dora", "--email", "d@x.org", "--name", "Dora\x1b]0;pwned\x07"}, "control characters"},
		{[]string{"user", "show", "nobody"}, "no account"},
		{[]string{"user", "unlock", "nobody"}, "no account"},
	} {
		r := runCLI(t, data, tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("twofold %s: exit %d, stderr %q, want 1 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}

	// reset-mfa with its flag after the positional voids the password and mails a new one.
	before := temporaryPassword(t, data, "b@x.org")
	mustCLI(t, data, "user", "reset-mfa", "bob", "--with-password")
	after := temporaryPassword(t, data, "b@x.org")
	if after == before {
		t.Error("reset-mfa --with-password sent no new temporary password")
	}
	if got := subjects(mailTo(t, data, "b@x.org")); !slices.Equal(got, []string{"Password Generated", "New Password",
		"Multi-factor authentication reset", "New Password"}) {
		t.Errorf("bob's emails: %q", got)
	}
	mustCLI(t, data, "user", "disable", "bob")
	if get(cliJSON(t, data, "user", "show", "bob", "--json"), "disabled") != true {
		t.Error("user disable did not disable")
	}
	mustCLI(t, data, "user", "enable", "bob")

	events := get(cliJSON(t, data, "audit", "--user", "bob", "--json"), "events").([]any)
	var actions []string
	for i, e := range events {
		for _, k := range []string{"at", "actor", "user", "action", "detail"} {
			if !has(e, k) {
				t.Errorf("audit event %d has no %s: %v", i, k, e)
			}
		}
		if _, err := time.Parse(time.RFC3339, str(e, "at")); err != nil {
			t.Errorf("audit event %d: at: %v", i, err)
		}
		if str(e, "user") != "bob" || str(e, "actor") != "cli" {
			t.Errorf("audit --user bob: %v", e)
		}
		actions = append(actions, str(e, "action"))
	}
	if want := []string{"user.enabled", "user.disabled", "mfa.reset", "user.created"}; !slices.Equal(actions, want) {
		t.Errorf("audit --user bob actions %q, want %q (newest first)", actions, want)
	}
	if out := mustCLI(t, data, "audit", "--user", "bob"); !strings.Contains(out, "mfa.reset") {
		t.Errorf("audit: %q", out)
	}
	// The service's one rule for the limit, said the same for either side of it.
	for _, n := range []string{"0", "1001"} {
		if r := runCLI(t, data, "audit", "--limit", n); r.code != 1 || !strings.Contains(r.stderr, "1 to 1000") {
			t.Errorf("audit --limit %s: exit %d, %q", n, r.code, r.stderr)
		}
	}
}

func TestCLIOptions(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	list := get(cliJSON(t, data, "options", "list", "--search", "MFA", "--json"), "options").([]any)
	got := map[string]any{}
	for _, o := range list {
		for _, k := range []string{"key", "description", "value", "default", "values"} {
			if !has(o, k) {
				t.Errorf("option %v has no %s", o, k)
			}
		}
		got[str(o, "key")] = o
	}
	for _, k := range []string{"internalMFA", "externalMFA", "enableMFABackupCodes", "mfaBackupCodeCount", "mfaRotateBackupCodes", "mfaIssuer"} {
		if got[k] == nil {
			t.Errorf("options list --search MFA lacks %s", k)
		}
	}
	for _, k := range []string{"temporaryPasswordLifetime", "failedSignInsPerAddress"} {
		if got[k] != nil {
			t.Errorf("options list --search MFA lists %s", k)
		}
	}
	if o := got["internalMFA"]; str(o, "value") != "required" || str(o, "default") != "required" ||
		!slices.Equal(strList(t, o, "values"), []string{"off", "required", "optional"}) {
		t.Errorf("internalMFA: %v", o)
	}
	if o := got["externalMFA"]; str(o, "value") != "optional" {
		t.Errorf("externalMFA: %v", o)
	}
	if o := got["mfaBackupCodeCount"]; str(o, "value") != "5" || str(o, "values") != "1 to 20" {
		t.Errorf("mfaBackupCodeCount: %v (values is a text for a range)", o)
	}

	// Refusals name the rule, exit 1 and change nothing.
	for _, tt := range []struct {
		key, value string
		want       []string
	}{
		{"mfaIssuer", "a:b", []string{"mfaIssuer", "':'"}},
		{"internalMFA", "bogus", []string{"internalMFA", "off, required, optional"}},
		{"mfaBackupCodeCount", "21", []string{"mfaBackupCodeCount", "1 to 20"}},
		{"temporaryPasswordLifetime", "0s", []string{"temporaryPasswordLifetime", "1s to 30d"}},
		{"noSuchOption", "1", []string{"noSuchOption"}},
	} {
		r := runCLI(t, data, "options", "set", tt.key, tt.value)
		if r.code != 1 {
			t.Errorf("options set %s %q: exit %d, want 1\nstderr: %s", tt.key, tt.value, r.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("options set %s %q: stderr %q does not name %q", tt.key, tt.value, r.stderr, w)
			}
		}
	}
	out := mustCLI(t, data, "options", "set", "internalMFA", "Optional")
	if !strings.Contains(out, "internalMFA = optional") {
		t.Errorf("options set printed %q", out)
	}
	values := map[string]string{}
	for _, o := range get(cliJSON(t, data, "options", "list", "--json"), "options").([]any) {
		values[str(o, "key")] = str(o, "value")
	}
	if len(values) < 8 || values["mfaIssuer"] != "Twofold" || values["internalMFA"] != "optional" ||
		values["mfaBackupCodeCount"] != "5" || values["temporaryPasswordLifetime"] != "1d" {
		t.Errorf("options after the refusals and one change: %v", values)
	}
	if out := mustCLI(t, data, "options", "list", "--search", "issuer"); !strings.Contains(out, "mfaIssuer") || strings.Contains(out, "internalMFA") {
		t.Errorf("options list --search issuer: %q", out)
	}
	events := get(cliJSON(t, data, "audit", "--json"), "events").([]any)
	if len(events) != 1 || str(events[0], "action") != "option.changed" || !strings.Contains(str(events[0], "detail"), "required -> optional") {
		t.Errorf("audit after one option change: %v", events)
	}
}

// TestCLIUserAddSSOSaysOneEmail: an SSO account gets only the first email, and the admin is
// told so.
// TestCLIGroups: user groups prints, adds and removes an account's groups (SPEC §8), with
// flags repeated, comma-separated, before or after the username; a refused name changes
// nothing; user show and user list --json show the groups.
func TestCLIGroups(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	mustCLI(t, data, "user", "add", "gwen", "--email", "gwen@x.org")
	lines := func(out string) []string { return strings.Fields(out) }

	if out := mustCLI(t, data, "user", "groups", "gwen"); out != "" {
		t.Errorf("user groups of an account without any printed %q", out)
	}
	if g := strList(t, cliJSON(t, data, "user", "show", "gwen", "--json"), "groups"); len(g) != 0 {
		t.Errorf("user show --json groups = %q, want []", g)
	}
	out := mustCLI(t, data, "user", "groups", "gwen", "--add", "ops,dev", "--add", "qa")
	if got := lines(out); !slices.Equal(got, []string{"dev", "ops", "qa"}) {
		t.Errorf("user groups --add printed %q, want dev, ops, qa one a line", out)
	}
	out = mustCLI(t, data, "user", "groups", "--remove", "qa,dev", "--add=web", "GWEN", "--add", "ops")
	if got := lines(out); !slices.Equal(got, []string{"ops", "web"}) {
		t.Errorf("user groups with flags before the username printed %q, want ops, web", out)
	}
	if got := lines(mustCLI(t, data, "user", "groups", "gwen")); !slices.Equal(got, []string{"ops", "web"}) {
		t.Errorf("user groups printed %q, want ops, web", got)
	}

	for _, bad := range []string{"Ops", strings.Repeat("a", 65), "", "a b", "a/b", "new,", "\x1b[2Jx"} {
		r := runCLI(t, data, "user", "groups", "gwen", "--add", "fresh", "--add", bad)
		if r.code != 1 || !strings.Contains(r.stderr, "A group name is 1 to 64 characters") {
			t.Errorf("user groups --add %q: exit %d, stderr %q; want 1 and the rule", bad, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "\x1b") {
			t.Errorf("user groups --add %q printed a raw escape: %q", bad, r.stderr)
		}
	}
	if got := lines(mustCLI(t, data, "user", "groups", "gwen")); !slices.Equal(got, []string{"ops", "web"}) {
		t.Errorf("refused names changed the groups to %q", got)
	}
	if r := runCLI(t, data, "user", "groups", "nobody", "--add", "x"); r.code != 1 || !strings.Contains(r.stderr, "no account") {
		t.Errorf("user groups of an unknown account: exit %d, stderr %q", r.code, r.stderr)
	}

	if show := mustCLI(t, data, "user", "show", "gwen"); !strings.Contains(show, "ops, web") {
		t.Errorf("user show does not list the groups:\n%s", show)
	}
	users, _ := get(cliJSON(t, data, "user", "list", "--json"), "users").([]any)
	if len(users) != 1 || !slices.Equal(strList(t, users[0], "groups"), []string{"ops", "web"}) {
		t.Errorf("user list --json: %v", users)
	}
	events := mustCLI(t, data, "audit", "--user", "gwen", "--action", "user.groups_changed")
	if !strings.Contains(events, "added dev,ops,qa") || !strings.Contains(events, "added web; removed dev,qa") {
		t.Errorf("audit of the changes:\n%s", events)
	}
}

func TestCLIUserAddSSOSaysOneEmail(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	out := mustCLI(t, data, "user", "add", "sam", "--email", "sam@x.org", "--sso")
	if !strings.Contains(out, `"Password Generated" email was sent to sam@x.org`) || strings.Contains(out, "New Password") ||
		!strings.Contains(out, "outbox "+filepath.Join(data, "outbox")) {
		t.Errorf("user add --sso printed %q, want only the first email named, and the outbox", out)
	}
	if got := subjects(mailTo(t, data, "sam@x.org")); !slices.Equal(got, []string{"Password Generated"}) {
		t.Errorf("sam's emails: %q", got)
	}
}

// TestCLIWhileServing runs commands on the database of a running server.
func TestCLIWhileServing(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServer(t, data, "--admin-email", "root@example.org")
	mustCLI(t, data, "user", "add", "zoe", "--email", "zoe@example.org", "--external")
	mustCLI(t, data, "options", "set", "externalMFA", "required")
	var names []string
	for _, u := range get(cliJSON(t, data, "user", "list", "--json"), "users").([]any) {
		names = append(names, str(u, "username"))
	}
	if !slices.Equal(names, []string{"zoe", "admin"}) {
		t.Errorf("user list while serving: %q", names)
	}
	if got := str(cliJSON(t, data, "user", "show", "admin", "--json"), "email"); got != "root@example.org" {
		t.Errorf("the bootstrap admin's email is %q, want the --admin-email", got)
	}
	// The server sees the account and, within 5 seconds, the option.
	waitFor(t, "the server applies externalMFA=required", hang, func() bool {
		r := newClient(&srv).call(t, "POST", "/api/v1/signin", creds("zoe", temporaryPassword(t, data, "zoe@example.org")))
		expect(t, r, http.StatusOK, "")
		return str(r.body, "next") == "mfa_enroll"
	})
	mustCLI(t, data, "user", "disable", "zoe")
	expect(t, newClient(&srv).call(t, "POST", "/api/v1/signin", creds("zoe", temporaryPassword(t, data, "zoe@example.org"))),
		http.StatusForbidden, "account_disabled")
	srv.stop(t)
	checkServerLog(t, srv.Lines(), true)
}

// TestWrongServerKeyRefused shows that a process whose server key is not the one the database
// was written with refuses to start (SPEC §5), and leaves the database file as it was, pending
// migration included.
func TestWrongServerKeyRefused(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	mustCLI(t, data, "user", "add", "kim", "--email", "kim@example.org") // writes with DATA/secret.key
	// The file as an older Twofold left it, its newest migration still to apply: a refused
	// start must not apply it (docs/SCALING.md: older instances may still run on it).
	raw, err := sql.Open("sqlite", filepath.Join(data, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE code_drift DROP COLUMN step`, `DELETE FROM schema_migrations WHERE version = 11`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(data, "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "user", "list", "--data", data)
	cmd.Env = apptest.ProcessEnv("TWOFOLD_SECRET_KEY=" + strings.Repeat("5a", 32))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "does not match") {
		t.Fatalf("a wrong key: %v\n%s", err, out)
	}
	if after, err := os.ReadFile(filepath.Join(data, "twofold.db")); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the database file changed under a wrong key (%v)", err)
	}
	if !strings.Contains(mustCLI(t, data, "user", "list"), "kim") {
		t.Fatal("the right key no longer opens the database")
	}
}

// TestCopyDBMissingSource: a mistyped SQLite source is refused, not made empty and copied.
func TestCopyDBMissingSource(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	missing := filepath.Join(data, "typo.db")
	r := runCLI(t, data, "copy-db", "--from", "sqlite:"+missing, "--to", "sqlite:"+filepath.Join(data, "copy.db"))
	if r.code == 0 || !strings.Contains(r.stderr, "no database at") {
		t.Fatalf("copy-db from a missing file: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{missing, filepath.Join(data, "copy.db")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a refused copy-db: %v", p, err)
		}
	}
}
