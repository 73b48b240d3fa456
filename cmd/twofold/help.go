package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// setting is what help tells about a flag beyond package flag's record: the one definition of
// a flag is its call to flags.text, flags.boolean or flags.integer, and help, the usage and
// docs/CONFIGURATION.md's test all read it from there.
type setting struct {
	env      string // the environment variable that sets it, "" for none
	def      string // the default as help shows it, "" for none
	value    string // the placeholder of its value (URL, DIR...), "" for a boolean
	required bool   // the command cannot run without it
}

// text defines a flag holding text, set by the environment variable env when env is not ""
// (the command line wins), with def as its default. value names its value in help (DIR);
// shownDef, when given, describes the default in help instead of def (for a default that is
// computed, such as the base URL's).
func (f *flags) text(name, env, def, value, usage string, shownDef ...string) *string {
	p := new(string)
	f.textVar(p, name, env, def, value, usage, shownDef...)
	return p
}

// textVar is text storing the value in p.
func (f *flags) textVar(p *string, name, env, def, value, usage string, shownDef ...string) {
	init := def
	if env != "" {
		init = envOr(env, def)
	}
	s := setting{env: env, def: def, value: value}
	if len(shownDef) > 0 {
		s.def = shownDef[0]
	}
	f.define(name, s)
	f.StringVar(p, name, init, usage)
}

// required defines a text flag that the command cannot run without, and no variable sets.
func (f *flags) required(name, value, usage string) *string {
	f.define(name, setting{value: value, required: true})
	return f.String(name, "", usage)
}

// boolean defines a flag that is off unless given.
func (f *flags) boolean(name, usage string) *bool {
	f.define(name, setting{})
	return f.Bool(name, false, usage)
}

// integer defines a flag holding a whole number.
func (f *flags) integer(name string, def int, value, usage string) *int {
	f.define(name, setting{def: strconv.Itoa(def), value: value})
	return f.Int(name, def, usage)
}

func (f *flags) define(name string, s setting) {
	if f.settings == nil {
		f.settings = map[string]setting{}
	}
	f.settings[name] = s
	f.order = append(f.order, name)
}

// split answers the names of the command's own flags and of the flags every command takes,
// each in the order of definition (a flag defined some other way comes last among its own).
func (f *flags) split() (own, shared []string) {
	seen := map[string]bool{}
	for _, name := range f.order {
		seen[name] = true
		if commonFlag[name] {
			shared = append(shared, name)
		} else {
			own = append(own, name)
		}
	}
	f.VisitAll(func(fl *flag.Flag) {
		if !seen[fl.Name] {
			own = append(own, fl.Name)
		}
	})
	return own, shared
}

// commonFlag names the flags every command takes (newFlags defines them).
var commonFlag = map[string]bool{"data": true, "db": true, "mail": true, "mail-from": true, "base-url": true}

// synopsis is the command line of f's command: its arguments and its own flags.
func (f *flags) synopsis() string {
	parts := []string{"twofold " + f.Name()}
	parts = append(parts, f.want...)
	own, _ := f.split()
	for _, name := range own {
		s := f.settings[name]
		p := "--" + name
		if s.value != "" {
			p += " " + s.value
		} else if fl := f.Lookup(name); !isBool(fl) {
			p += " VALUE"
		}
		if !s.required {
			p = "[" + p + "]"
		}
		parts = append(parts, p)
	}
	return wrap(parts, "      ")
}

// wrap joins words into lines of at most 100 columns, continuing lines with indent.
func wrap(words []string, indent string) string {
	var b strings.Builder
	line := 0
	for i, w := range words {
		if i > 0 {
			if line+1+len(w) > 100 {
				b.WriteString("\n" + indent)
				line = len(indent)
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// describe writes one line per flag of names: the flag and its value, then what it does, the
// variable that sets it and its default. Values given through the environment are never shown
// (one of them is a secret).
func (f *flags) describe(w io.Writer, names []string) {
	for _, name := range names {
		fl := f.Lookup(name)
		s := f.settings[name]
		head := "  --" + name
		if s.value != "" {
			head += " " + s.value
		} else if !isBool(fl) {
			head += " VALUE"
		}
		var notes []string
		if s.required {
			notes = append(notes, "required")
		}
		if s.env != "" {
			notes = append(notes, "env "+s.env)
		}
		switch {
		case s.def != "":
			notes = append(notes, "default "+s.def)
		case isBool(fl):
			notes = append(notes, "default off")
		case !s.required:
			notes = append(notes, "default none")
		}
		fmt.Fprintf(w, "%s\n        %s", head, fl.Usage)
		if len(notes) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(notes, "; "))
		}
		fmt.Fprintln(w)
	}
}

// help writes the help of f's command: its command line, then every flag it takes.
func (f *flags) help(w io.Writer) {
	own, shared := f.split()
	fmt.Fprintf(w, "usage: %s\n", f.synopsis())
	if len(own) > 0 {
		fmt.Fprintln(w, "\nflags:")
		f.describe(w, own)
	}
	fmt.Fprintln(w, "\nflags every command takes:")
	f.describe(w, shared)
	fmt.Fprint(w, environmentHelp)
}

// environmentHelp tells the settings that only the environment gives.
const environmentHelp = `
environment:
  TWOFOLD_SECRET_KEY
        the server key, 64 hex characters (openssl rand -hex 32); required with PostgreSQL,
        else read from DATA/secret.key, which the first start makes
  GOMEMLIMIT
        the server's soft memory limit (default 96MiB)
  GOGC
        the server's garbage collection target percentage (default 400)

docs/CONFIGURATION.md lists every setting.
`

// helpRequest is a command line that asks for a command's help: parse answers it in place of
// the command's arguments, before anything is opened.
type helpRequest struct{ flags *flags }

func (h helpRequest) Error() string { return "help requested" }

// commandLines are the commands in the order the usage shows them; each one's flags come from
// its own definition, found by asking the command for its help.
var commandLines = [][]string{
	{"serve"},
	{"user", "add"}, {"user", "list"}, {"user", "show"}, {"user", "reset-mfa"}, {"user", "unlock"},
	{"user", "reset-password"}, {"user", "disable"}, {"user", "enable"}, {"user", "link-sso"},
	{"user", "groups"},
	{"options", "list"}, {"options", "set"},
	{"audit"},
	{"migrate"}, {"copy-db"},
	{"mail", "status"}, {"mail", "deliver"},
	{"client", "add"}, {"client", "list"}, {"client", "show"}, {"client", "rotate-secret"}, {"client", "remove"},
	{"oidc", "rotate-key"},
	{"rule", "add"}, {"rule", "list"}, {"rule", "remove"}, {"rule", "move"}, {"rule", "check"},
}

// commandFlags answers the flags of the command at path, as the command defines them.
func commandFlags(path []string) (*flags, error) {
	args := append(append([]string{}, path...), "--help")
	err := run(context.Background(), args, io.Discard, io.Discard, slog.New(slog.DiscardHandler))
	var h helpRequest
	if !errors.As(err, &h) {
		return nil, fmt.Errorf("twofold %s --help: %v", strings.Join(path, " "), err)
	}
	return h.flags, nil
}

// usage writes the command lines of the commands whose path starts with group (all when
// group is empty), then, when full, the flags every command takes.
func usage(w io.Writer, group string, full bool) {
	fmt.Fprintln(w, "usage:")
	var last *flags
	for _, path := range commandLines {
		if group != "" && path[0] != group {
			continue
		}
		f, err := commandFlags(path)
		if err != nil { // a command that cannot tell its flags is a bug; say so rather than hide it
			fmt.Fprintln(os.Stderr, "twofold:", err)
			continue
		}
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(f.synopsis(), "\n", "\n  "))
		last = f
	}
	if group == "" {
		fmt.Fprintln(w, "  twofold version")
	}
	fmt.Fprintln(w, "\n`twofold COMMAND --help` tells a command's flags in full.")
	if !full {
		return
	}
	if last != nil {
		_, shared := last.split()
		fmt.Fprintln(w, "\nflags every command takes:")
		last.describe(w, shared)
	}
	fmt.Fprint(w, environmentHelp)
}
