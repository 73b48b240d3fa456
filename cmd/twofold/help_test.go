package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/options"
)

// specFlags are the variables and defaults that SPEC §4, docs/SSO.md and docs/CONFIGURATION.md
// promise.
var specFlags = map[string]setting{
	"data":               {env: "TWOFOLD_DATA", def: "./data"},
	"db":                 {env: "TWOFOLD_DB"},
	"mail":               {env: "TWOFOLD_MAIL", def: "outbox"},
	"base-url":           {env: "TWOFOLD_BASE_URL"},
	"addr":               {env: "TWOFOLD_ADDR", def: "127.0.0.1:8080"},
	"admin-email":        {env: "TWOFOLD_ADMIN_EMAIL", def: "admin@localhost"},
	"sso-issuer":         {env: "TWOFOLD_SSO_ISSUER"},
	"sso-client-secret":  {env: "TWOFOLD_SSO_CLIENT_SECRET"},
	"sso-client-id":      {env: "TWOFOLD_SSO_CLIENT_ID"},
	"sso-username-claim": {env: "TWOFOLD_SSO_USERNAME_CLAIM"},
}

// helpEntry answers the lines of help that describe --name: the flag and its description.
func helpEntry(help, name string) string {
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if l == "  --"+name || strings.HasPrefix(l, "  --"+name+" ") {
			if i+1 < len(lines) {
				return l + "\n" + lines[i+1]
			}
			return l
		}
	}
	return ""
}

// TestHelpListsEveryFlag: for every command, --help exits 0 and tells every flag the command
// accepts, with its environment variable and default, all taken from the flag's one
// definition; values from the environment are never shown.
func TestHelpListsEveryFlag(t *testing.T) {
	t.Setenv("TWOFOLD_SSO_CLIENT_SECRET", "env-secret-never-shown")
	seen := map[string]bool{}
	for _, path := range commandLines {
		name := strings.Join(path, " ")
		f, err := commandFlags(path)
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), append(append([]string{}, path...), "--help"), &out, &errOut); code != 0 {
			t.Fatalf("twofold %s --help: exit %d\n%s", name, code, errOut.String())
		}
		help := out.String()
		if !strings.HasPrefix(help, "usage: twofold "+name) {
			t.Errorf("twofold %s --help does not start with its usage:\n%s", name, help)
		}
		if strings.Contains(help, "env-secret-never-shown") {
			t.Errorf("twofold %s --help shows a value from the environment", name)
		}
		n := 0
		f.VisitAll(func(fl *flag.Flag) {
			n++
			seen[fl.Name] = true
			s, ok := f.settings[fl.Name]
			if !ok {
				t.Errorf("twofold %s: --%s is not defined by flags.text, boolean or integer, so help cannot tell its variable and default", name, fl.Name)
			}
			entry := helpEntry(help, fl.Name)
			if entry == "" || !strings.Contains(entry, fl.Usage) {
				t.Errorf("twofold %s --help does not describe --%s:\n%s", name, fl.Name, help)
				return
			}
			want := s
			if spec, ok := specFlags[fl.Name]; ok {
				want = spec
				if s.env != spec.env || (spec.def != "" && s.def != spec.def) {
					t.Errorf("--%s: variable %q, default %q; the specification says %q, %q", fl.Name, s.env, s.def, spec.env, spec.def)
				}
			}
			if want.env != "" && !strings.Contains(entry, "env "+want.env) {
				t.Errorf("twofold %s --help: --%s without its variable %s:\n%s", name, fl.Name, want.env, entry)
			}
			if want.def != "" && !strings.Contains(entry, "default "+want.def) {
				t.Errorf("twofold %s --help: --%s without its default %s:\n%s", name, fl.Name, want.def, entry)
			}
			if want.def == "" && !s.required && !strings.Contains(entry, "default ") {
				t.Errorf("twofold %s --help: --%s does not say it has no default:\n%s", name, fl.Name, entry)
			}
		})
		if n < len(commonFlag) {
			t.Errorf("twofold %s: only %d flags", name, n)
		}
	}
	for name := range specFlags {
		if !seen[name] {
			t.Errorf("no command takes --%s", name)
		}
	}
	// The general help lists every command, and a group's help its commands.
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"help"}, &out, &out); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, path := range commandLines {
		if !strings.Contains(out.String(), "twofold "+strings.Join(path, " ")) {
			t.Errorf("help does not list twofold %s:\n%s", strings.Join(path, " "), out.String())
		}
	}
	out.Reset()
	if code := Main(context.Background(), []string{"user", "--help"}, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "twofold user reset-mfa USERNAME [--with-password]") || strings.Contains(out.String(), "twofold serve") {
		t.Errorf("user --help: exit %d\n%s", code, out.String())
	}
}

// TestConfigurationDocListsEverySetting: docs/CONFIGURATION.md names every flag with its
// variable, and every option with its default, so that it cannot drift from the code.
func TestConfigurationDocListsEverySetting(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "CONFIGURATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rows := map[string]string{} // the table row of each flag
	for _, l := range strings.Split(doc, "\n") {
		if i := strings.Index(l, "`--"); strings.HasPrefix(l, "|") && i >= 0 {
			name := l[i+3:]
			name = name[:strings.IndexAny(name, " `")]
			rows[name] += l
		}
	}
	for _, path := range commandLines {
		f, err := commandFlags(path)
		if err != nil {
			t.Fatal(err)
		}
		f.VisitAll(func(fl *flag.Flag) {
			row, ok := rows[fl.Name]
			switch s := f.settings[fl.Name]; {
			case !ok:
				t.Errorf("docs/CONFIGURATION.md has no row for --%s (twofold %s)", fl.Name, strings.Join(path, " "))
			case s.env != "" && !strings.Contains(row, "`"+s.env+"`"):
				t.Errorf("docs/CONFIGURATION.md: --%s without its variable %s: %s", fl.Name, s.env, row)
			case s.env == "" && strings.Contains(row, "TWOFOLD_"):
				t.Errorf("docs/CONFIGURATION.md: --%s has no variable, the row names one: %s", fl.Name, row)
			}
		})
	}
	for _, o := range options.All() {
		if !strings.Contains(doc, "| `"+o.Key+"` |") || !strings.Contains(doc, "`"+o.Default+"`") {
			t.Errorf("docs/CONFIGURATION.md does not list the option %s with its default %s", o.Key, o.Default)
		}
	}
}
