// Command twofold is the Twofold sign-in server and its administration commands.
//
//	twofold serve [--addr 127.0.0.1:8080] [--trusted-proxies CIDRS] [--cookie-domain DOMAIN] [--argon2 m=KIB,t=N,p=N] [--admin-email EMAIL]
//	              [--sso-issuer URL --sso-client-id ID [--sso-redirect-url URL] [--sso-username-claim CLAIM]]
//	twofold user add USERNAME --email EMAIL [--name NAME] [--external] [--sso] [--admin]
//	twofold user list [--json]          twofold user show USERNAME [--json]
//	twofold user reset-mfa USERNAME [--with-password]
//	twofold user unlock USERNAME        twofold user reset-password USERNAME
//	twofold user disable USERNAME       twofold user enable USERNAME
//	twofold user link-sso USERNAME
//	twofold user groups USERNAME [--add GROUP,...] [--remove GROUP,...]
//	twofold options list [--search TEXT] [--json]
//	twofold options set KEY VALUE
//	twofold audit [--user USERNAME] [--json]
//	twofold migrate
//	twofold copy-db --from URL --to URL
//	twofold mail status [--json]        twofold mail deliver
//	twofold client add NAME --redirect-uri URI [--redirect-uri URI ...] [--public]
//	       [--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI]
//	       [--require-mfa] [--skip-consent] [--groups G1,G2] [--json]
//	twofold client list [--json]        twofold client show CLIENT_ID [--json]
//	twofold client rotate-secret CLIENT_ID [--json]
//	twofold client remove CLIENT_ID     twofold oidc rotate-key
//	twofold rule add --host H [--host H ...] [--path REGEX] [--method M ...]
//	       [--subject user:NAME|group:NAME ...] --policy P [--position N]
//	twofold rule list [--json]      twofold rule remove N      twofold rule move N --position M
//	twofold rule check URL [--user NAME] [--method M] [--json]
//	twofold version
//
// Every command takes --data DIR, --db URL, --mail outbox|smtp://..., --mail-from ADDRESS and
// --base-url URL; `twofold COMMAND --help` tells every flag of a command with its environment
// variable and default (docs/CONFIGURATION.md).
// Commands other than serve work on the database directly, also while a server runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twofold-auth/twofold/internal/errs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// What logs through slog's default (the store's failed sync, the provider library) logs as
	// the rest does: JSON on standard error.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that cannot be run as written.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs one command and answers the process exit code: 0 done, 1 refused or failed,
// 2 a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	err := run(ctx, args, stdout, stderr, log)
	var (
		ue usageError
		hr helpRequest
		gh groupHelp
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &hr):
		hr.flags.help(stdout)
		return 0
	case errors.As(err, &gh):
		usage(stdout, string(gh), true)
		return 0
	case errors.Is(err, flag.ErrHelp):
		usage(stdout, "", true)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "twofold: %s\n", shown(ue.msg))
		usage(stderr, "", false)
		return 2
	default:
		e := errs.As(err)
		if e.Code == errs.Internal {
			fmt.Fprintf(stderr, "twofold: %s\n", shown(err.Error()))
		} else {
			fmt.Fprintf(stderr, "twofold: %s\n", shown(e.Message))
		}
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stderr, log)
	case "user":
		if len(rest) == 0 {
			return usageError{"user needs a subcommand"}
		}
		if isHelp(rest[0]) {
			return groupHelp("user")
		}
		return userCommand(ctx, rest[0], rest[1:], stdout, log)
	case "options":
		if len(rest) == 0 {
			return usageError{"options needs list or set"}
		}
		if isHelp(rest[0]) {
			return groupHelp("options")
		}
		return optionsCommand(ctx, rest[0], rest[1:], stdout, log)
	case "audit":
		return auditCommand(ctx, rest, stdout, log)
	case "migrate":
		return migrateCommand(ctx, rest, stdout, log)
	case "copy-db":
		return copyDBCommand(ctx, rest, stdout, log)
	case "mail":
		if len(rest) == 0 {
			return usageError{"mail needs status or deliver"}
		}
		if isHelp(rest[0]) {
			return groupHelp("mail")
		}
		return mailCommand(ctx, rest[0], rest[1:], stdout, log)
	case "client", "oidc":
		if len(rest) == 0 {
			return usageError{cmd + " needs a subcommand"}
		}
		if isHelp(rest[0]) {
			return groupHelp(cmd)
		}
		if cmd == "oidc" {
			return oidcCommand(ctx, rest[0], rest[1:], stdout, log)
		}
		return clientCommand(ctx, rest[0], rest[1:], stdout, log)
	case "rule":
		if len(rest) == 0 {
			return usageError{"rule needs add, list, remove, move or check"}
		}
		if isHelp(rest[0]) {
			return groupHelp("rule")
		}
		return ruleCommand(ctx, rest[0], rest[1:], stdout, log)
	case "version":
		fmt.Fprintln(stdout, "twofold", version)
		return nil
	case "help", "-h", "--help":
		return flag.ErrHelp
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// isHelp reports whether arg asks for the usage.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// groupHelp asks for the usage of one group of commands (user, options, mail, client, oidc).
type groupHelp string

func (g groupHelp) Error() string { return "help requested" }

// flags is a command's flag set with the settings every command takes, and what help tells
// about each flag (help.go).
type flags struct {
	*flag.FlagSet
	common   common
	settings map[string]setting
	order    []string
	// want are the command's positional arguments, known once parse is called.
	want []string
}

func newFlags(name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.SetOutput(io.Discard)
	f.textVar(&f.common.data, "data", "TWOFOLD_DATA", "./data", "DIR", "data folder: the SQLite database, the outbox, the server key")
	f.textVar(&f.common.db, "db", "TWOFOLD_DB", "", "URL", "database: sqlite:PATH or postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full",
		"SQLite in the data folder, DIR/twofold.db")
	f.textVar(&f.common.mail, "mail", "TWOFOLD_MAIL", "outbox", "outbox|smtp://...",
		"mail delivery: outbox (.eml files in DIR/outbox) or smtp://USER:PASSWORD@HOST:PORT (docs/MAIL.md)")
	f.textVar(&f.common.mailFrom, "mail-from", "TWOFOLD_MAIL_FROM", "Twofold <twofold@localhost>", "ADDRESS", "sender of the mail")
	f.textVar(&f.common.baseURL, "base-url", "TWOFOLD_BASE_URL", "", "URL",
		"where people reach the pages: links in mail come only from it; https makes cookies Secure",
		"http:// and the listen address")
	return f
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parse reads flags wherever they stand among the positional arguments, and checks that
// exactly want positionals remain.
func (f *flags) parse(args []string, want ...string) ([]string, error) {
	var named, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		if isHelp(a) {
			f.want = want
			return nil, helpRequest{f}
		}
		named = append(named, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		fl := f.Lookup(name)
		if fl == nil {
			return nil, usageError{fmt.Sprintf("%s: unknown flag %s", f.Name(), a)}
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 >= len(args) {
			return nil, usageError{fmt.Sprintf("%s: flag %s needs a value", f.Name(), a)}
		}
		i++
		named = append(named, args[i])
	}
	if err := f.Parse(named); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{fmt.Sprintf("%s: %v", f.Name(), err)}
	}
	if len(positional) != len(want) {
		if len(want) == 0 {
			return nil, usageError{fmt.Sprintf("%s takes no arguments", f.Name())}
		}
		return nil, usageError{fmt.Sprintf("%s takes %s", f.Name(), strings.Join(want, " "))}
	}
	return positional, nil
}
