package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/provider"
)

// repeated defines a flag that may be given several times; it holds every value given, in
// order. A required one must be given at least once.
func (f *flags) repeated(name, value, usage string, required bool) *[]string {
	p := new([]string)
	f.define(name, setting{value: value, required: required})
	f.Func(name, usage, func(v string) error {
		*p = append(*p, v)
		return nil
	})
	return p
}

// openProvider opens Twofold for a command about applications, which needs it to be an
// OpenID Connect provider: with an http base URL on a host that is not a loopback address it
// is none, and the command line is what must change (exit 2).
func openProvider(ctx context.Context, f *flags, log *slog.Logger) (*app.App, error) {
	a, err := open(ctx, f.common, log)
	if err != nil {
		return nil, err
	}
	if a.Provider == nil {
		reason := provider.CheckIssuer(a.BaseURL)
		a.Close()
		return nil, usageError{fmt.Sprintf("%s: applications cannot sign in through Twofold here: %v; give --base-url "+
			"(or TWOFOLD_BASE_URL) as the servers have it", f.Name(), reason)}
	}
	return a, nil
}

// clientCommand runs twofold client SUB: the applications that sign people in through
// Twofold (SPEC §7).
func clientCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("client " + sub)
	var (
		redirects, postLogout *[]string
		backchannel, groups   *string
		public, requireMFA    *bool
		skipConsent, asJSON   *bool
		want                  = []string{"CLIENT_ID"}
	)
	switch sub {
	case "add":
		want = []string{"NAME"}
		redirects = f.repeated("redirect-uri", "URI", "where the application receives its code: https (http only for a loopback "+
			"address or localhost), matched exactly; repeat it for several", true)
		public = f.boolean("public", "an application that cannot keep a secret (single-page or native): no secret, PKCE required")
		postLogout = f.repeated("post-logout-redirect-uri", "URI", "where logout may send the browser back to; repeatable", false)
		backchannel = f.text("backchannel-logout-uri", "", "", "URI", "where Twofold posts a logout token when a session ends")
		requireMFA = f.boolean("require-mfa", "a second factor is proved for every sign-in to it, whatever the MFA policy")
		skipConsent = f.boolean("skip-consent", "no consent page: for the organisation's own applications")
		groups = f.text("groups", "", "", "G1,G2", "only members of these groups may sign in to it")
		asJSON = f.boolean("json", "print JSON")
	case "list":
		want = nil
		asJSON = f.boolean("json", "print JSON")
	case "show", "rotate-secret":
		asJSON = f.boolean("json", "print JSON")
	case "remove":
	default:
		return usageError{fmt.Sprintf("unknown command client %s", sub)}
	}
	pos, err := f.parse(args, want...)
	if err != nil {
		return err
	}
	if sub == "add" && len(*redirects) == 0 {
		return usageError{"client add: --redirect-uri is required"}
	}
	a, err := openProvider(ctx, f, log)
	if err != nil {
		return err
	}
	defer a.Close()
	p := a.Provider
	switch sub {
	case "add":
		spec := provider.ClientSpec{Name: pos[0], RedirectURIs: *redirects, PostLogoutRedirectURIs: *postLogout,
			BackchannelLogoutURI: *backchannel, Public: *public, RequireMFA: *requireMFA, SkipConsent: *skipConsent}
		if *groups != "" {
			spec.Groups = account.GroupList(*groups)
		}
		v, secret, err := p.AddClient(ctx, account.CLI, spec)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, provider.ClientWithSecret{ClientView: v, ClientSecret: secret})
		}
		fmt.Fprintf(stdout, "Registered the application %q.\nclient_id: %s\n", shown(v.Name), v.ClientID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n%s\n", secret, secretNote)
		} else {
			fmt.Fprintln(stdout, "A public client: no secret; it must use PKCE (S256).")
		}
		return nil
	case "list":
		list, err := p.Clients(ctx, account.CLI)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"clients": list})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tREDIRECT URIS\tCREATED")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shown(c.ClientID), shown(c.Name), clientType(c),
				shown(strings.Join(c.RedirectURIs, " ")), c.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		v, err := p.Client(ctx, account.CLI, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, v)
		}
		printClient(stdout, v)
		return nil
	case "rotate-secret":
		secret, err := p.RotateClientSecret(ctx, account.CLI, pos[0])
		if err != nil {
			return err
		}
		v, err := p.Client(ctx, account.CLI, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, provider.ClientWithSecret{ClientView: v, ClientSecret: secret})
		}
		fmt.Fprintf(stdout, "A new secret for %q; the old one no longer works.\nclient_id: %s\nclient_secret: %s\n%s\n",
			shown(v.Name), v.ClientID, secret, secretNote)
		return nil
	case "remove":
		v, err := p.Client(ctx, account.CLI, pos[0])
		if err != nil {
			return err
		}
		if err := p.RemoveClient(ctx, account.CLI, v.ClientID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed the application %q (%s); every token it held is revoked.\n", shown(v.Name), v.ClientID)
	}
	return nil
}

// secretNote follows a client secret printed once.
const secretNote = "The secret is shown only now (Twofold keeps only its hash): give it to the application. " +
	"`twofold client rotate-secret` makes a new one."

func clientType(c *provider.ClientView) string {
	if c.Public {
		return "public"
	}
	return "confidential"
}

func printClient(w io.Writer, c *provider.ClientView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%s\n", k, shown(fmt.Sprint(v))) }
	rows := func(k string, l []string, none string) {
		if len(l) == 0 {
			row(k, none)
		}
		for i, v := range l {
			if i == 0 {
				row(k, v)
			} else {
				fmt.Fprintf(tw, "\t%s\n", shown(v))
			}
		}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	row("Client ID", c.ClientID)
	row("Name", c.Name)
	row("Type", clientType(c))
	rows("Redirect URIs", c.RedirectURIs, "none")
	rows("Post-logout redirect URIs", c.PostLogoutRedirectURIs, "none")
	if c.BackchannelLogoutURI != "" {
		row("Back-channel logout URI", c.BackchannelLogoutURI)
	} else {
		row("Back-channel logout URI", "none")
	}
	row("Require MFA", yes(c.RequireMFA))
	row("Skip consent", yes(c.SkipConsent))
	if len(c.Groups) > 0 {
		row("Groups", strings.Join(c.Groups, ", "))
	} else {
		row("Groups", "any account")
	}
	row("Created", c.CreatedAt.Format(time.RFC3339))
	tw.Flush()
}

// oidcCommand runs twofold oidc SUB: the provider's own settings.
func oidcCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("oidc " + sub)
	switch sub {
	case "rotate-key":
	default:
		return usageError{fmt.Sprintf("unknown command oidc %s", sub)}
	}
	if _, err := f.parse(args); err != nil {
		return err
	}
	a, err := openProvider(ctx, f, log)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.Provider.RotateKey(ctx, account.CLI.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "New signing key %s: it signs from now on (running servers within 5 seconds); "+
		"the old key stays published until the tokens it signed have expired.\n", shown(id))
	return nil
}
