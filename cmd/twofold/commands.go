package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// memoryLimit is the soft heap limit of the server unless GOMEMLIMIT says otherwise, so that a
// flood's garbage is returned promptly and memory stays within SPEC §6. argon2id's buffers are
// not in the heap: the hasher keeps one per worker and unmaps them when idle.
const memoryLimit = 96 << 20

// gcPercent is the collector's GOGC of the server unless GOGC says otherwise. Its live heap is
// a few MiB, so the default of 100 collects after every few MiB of garbage: about 16 times a
// second under a load of second-factor steps, each collection taking a share of a core for some
// milliseconds while requests wait. At 400 it collects a quarter as often, for a heap goal of
// tens of MiB; through a flood memoryLimit caps the heap (its peak of resident memory was about
// 109 MiB at 400, against 85–90 MiB at 100).
const gcPercent = 400

func serve(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	f := newFlags("serve")
	addr := f.text("addr", "TWOFOLD_ADDR", "127.0.0.1:8080", "HOST:PORT", "listen address (port 0: any free port)")
	proxies := f.text("trusted-proxies", "TWOFOLD_TRUSTED_PROXIES", "", "CIDRS",
		"comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	cookieDomain := f.text("cookie-domain", "TWOFOLD_COOKIE_DOMAIN", "", "DOMAIN",
		"the session cookie covers DOMAIN and every host below it, for forward auth; --base-url's host must be under it")
	argon2 := f.text("argon2", "TWOFOLD_ARGON2", password.DefaultParams.String(), "m=KIB,t=N,p=N",
		"argon2id cost of new password hashes, never below the default; a hash at a lower cost is replaced at the account's next right password")
	adminEmail := f.text("admin-email", "TWOFOLD_ADMIN_EMAIL", "admin@localhost", "EMAIL",
		"email of the first admin, made when the database has none")
	ssoFlags := addSSOFlags(f)
	if _, err := f.parse(args); err != nil {
		return err
	}
	trusted, err := parsePrefixes(*proxies)
	if err != nil {
		return usageError{fmt.Sprintf("serve: --trusted-proxies: %v", err)}
	}
	sso, err := ssoFlags.settings()
	if err != nil {
		return err
	}
	hashing, err := password.ParseParams(*argon2)
	if err != nil {
		return usageError{fmt.Sprintf("serve: --argon2: %v", err)}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	c := f.common.config(log)
	c.Addr, c.TrustedProxies, c.SSO, c.CookieDomain = *addr, trusted, sso, *cookieDomain
	c.Hashing = hashing
	a, err := app.Open(ctx, c)
	var se *app.SettingsError
	if errors.As(err, &se) {
		return usageError{fmt.Sprintf("serve: %v", se.Err)}
	}
	if err != nil {
		return err
	}
	defer a.Close()

	pw, err := a.Service.Bootstrap(ctx, *adminEmail)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if pw != "" {
		// Printed once, never through the logger.
		fmt.Fprintf(stderr, "Made the first admin account \"admin\" (%s).\nTemporary password: %s\n", *adminEmail, pw)
		// Hashing that password mapped one worker's argon2id memory (19 MiB at the default
		// cost): give it back now rather than after the hasher's idle delay.
		a.Hasher.Release()
	}
	log.Info("twofold listening", "addr", a.Addr(), "base_url", a.BaseURL, "version", version)
	return a.Serve(ctx)
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func userCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("user " + sub)
	var (
		email, name          *string
		external, sso, admin *bool
		asJSON, withPassword *bool
		add, remove          *[]string
		want                 = []string{"USERNAME"}
	)
	switch sub {
	case "add":
		email = f.required("email", "EMAIL", "email address, where the temporary password goes")
		name = f.text("name", "", "", "NAME", "display name")
		external = f.boolean("external", "an external account (portal users, hotline agents...), with its own MFA policy")
		sso = f.boolean("sso", "signs in through the identity provider: no password, no MFA here")
		admin = f.boolean("admin", "an administrator")
	case "list":
		want = nil
		asJSON = f.boolean("json", "print JSON")
	case "show":
		asJSON = f.boolean("json", "print JSON")
	case "reset-mfa":
		withPassword = f.boolean("with-password", "also void the password and email a new temporary one")
	case "groups":
		add = f.repeated("add", "GROUP,...", "add the account to these groups (repeatable; lower case a-z, 0-9, '.', '_', '-')", false)
		remove = f.repeated("remove", "GROUP,...", "remove the account from these groups (repeatable)", false)
	case "unlock", "reset-password", "disable", "enable", "link-sso":
	default:
		return usageError{fmt.Sprintf("unknown command user %s", sub)}
	}
	pos, err := f.parse(args, want...)
	if err != nil {
		return err
	}
	if sub == "add" && *email == "" {
		return usageError{"user add: --email is required"}
	}
	a, err := open(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer a.Close()
	svc := a.Service
	var v *account.UserView
	switch sub {
	case "add":
		n := account.NewUser{Username: pos[0], Email: *email, Name: *name}
		if *external {
			n.Kind = store.KindExternal
		}
		if *sso {
			n.Source = store.SourceSSO
		}
		if *admin {
			n.Role = store.RoleAdmin
		}
		if v, _, err = svc.CreateUser(ctx, account.CLI, n); err != nil {
			return err
		}
		emails, plural := `the "Password Generated" and "New Password" emails`, true
		if v.Source == store.SourceSSO { // no password, so no second email
			emails, plural = `the "Password Generated" email`, false
		}
		fmt.Fprintf(stdout, "Made account %q; %s.\n", v.Username, mailSent(a, emails, plural, v.Email))
		return nil
	case "list":
		list, err := svc.Users(ctx, account.CLI)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"users": list})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tEMAIL\tKIND\tSOURCE\tROLE\tMFA\tSTATE")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shown(u.Username), shown(u.Email), shown(u.Kind),
				shown(u.Source), shown(u.Role), shown(mfaState(u)), userState(u))
		}
		return tw.Flush()
	case "show":
		if v, err = svc.User(ctx, account.CLI, pos[0]); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, v)
		}
		printUser(stdout, v)
		return nil
	case "reset-mfa":
		v, err = svc.ResetMFA(ctx, account.CLI, pos[0], *withPassword)
	case "unlock":
		v, err = svc.Unlock(ctx, account.CLI, pos[0])
	case "reset-password":
		v, err = svc.ResetPassword(ctx, account.CLI, pos[0])
	case "disable":
		v, err = svc.SetDisabled(ctx, account.CLI, pos[0], true)
	case "enable":
		v, err = svc.SetDisabled(ctx, account.CLI, pos[0], false)
	case "link-sso":
		v, err = svc.LinkSSO(ctx, account.CLI, pos[0])
	case "groups":
		return groupsCommand(ctx, svc, pos[0], *add, *remove, stdout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Done: user %s %s.\n", sub, shown(v.Username))
	return nil
}

// groupsCommand prints the account's groups, one a line, after making the change asked for,
// if any.
func groupsCommand(ctx context.Context, svc *account.Service, username string, add, remove []string, stdout io.Writer) error {
	var (
		v   *account.UserView
		err error
	)
	if len(add) == 0 && len(remove) == 0 {
		v, err = svc.User(ctx, account.CLI, username)
	} else {
		var c account.GroupChange
		for _, a := range add {
			c.Add = append(c.Add, account.GroupList(a)...)
		}
		for _, r := range remove {
			c.Remove = append(c.Remove, account.GroupList(r)...)
		}
		v, err = svc.ChangeGroups(ctx, account.CLI, username, c)
	}
	if err != nil {
		return err
	}
	for _, g := range v.Groups {
		fmt.Fprintln(stdout, shown(g))
	}
	return nil
}

func mfaState(u *account.UserView) string {
	s := u.MFA.Policy
	if u.MFA.Enrolled {
		s += ", enrolled"
	}
	if u.MFALocked {
		s += ", locked"
	}
	return s
}

func userState(u *account.UserView) string {
	switch {
	case u.Disabled:
		return "disabled"
	case u.PasswordLockedUntil != nil:
		return "password locked"
	}
	return "active"
}

func printUser(w io.Writer, u *account.UserView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%s\n", k, shown(fmt.Sprint(v))) }
	row("Username", u.Username)
	row("Email", u.Email)
	row("Name", u.Name)
	row("Kind", u.Kind)
	row("Source", u.Source)
	row("Role", u.Role)
	row("Disabled", u.Disabled)
	row("MFA policy", u.MFA.Policy)
	row("MFA enrolled", u.MFA.Enrolled)
	if u.MFA.BackupCodesRemaining != nil {
		row("Backup codes left", *u.MFA.BackupCodesRemaining)
	}
	row("MFA locked", u.MFALocked)
	if u.MFALockedUntil != nil {
		row("MFA locked until", u.MFALockedUntil.Format(time.RFC3339))
	}
	if u.PasswordLockedUntil != nil {
		row("Password locked until", u.PasswordLockedUntil.Format(time.RFC3339))
	}
	if len(u.Groups) > 0 {
		row("Groups", strings.Join(u.Groups, ", "))
	} else {
		row("Groups", "none")
	}
	row("Created", u.CreatedAt.UTC().Format(time.RFC3339))
	tw.Flush()
}

// printJSON prints v as indented JSON with every character a terminal could act on escaped.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", escapeJSON(b))
	return err
}

func optionsCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("options " + sub)
	var search *string
	var asJSON *bool
	var want []string
	switch sub {
	case "list":
		search = f.text("search", "", "", "TEXT", "only options whose key or description contains this")
		asJSON = f.boolean("json", "print JSON")
	case "set":
		want = []string{"KEY", "VALUE"}
	default:
		return usageError{fmt.Sprintf("unknown command options %s", sub)}
	}
	pos, err := f.parse(args, want...)
	if err != nil {
		return err
	}
	a, err := open(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if sub == "set" {
		o, err := a.Service.SetOption(ctx, account.CLI, pos[0], pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s = %s (running servers apply it within 5 seconds)\n", shown(o.Key), shown(o.Value))
		return nil
	}
	list, err := a.Service.Options(ctx, account.CLI, *search)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"options": list})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tDEFAULT\tVALUES")
	for _, o := range list {
		values := o.Range
		if o.Choices != nil {
			values = strings.Join(o.Choices, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", shown(o.Key), shown(o.Value), shown(o.Default), shown(values))
	}
	return tw.Flush()
}

func auditCommand(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("audit")
	user := f.text("user", "", "", "USERNAME", "only events about this account")
	action := f.text("action", "", "", "ACTION", "only events of this action (user.created, mfa.reset...)")
	limit := f.integer("limit", 100, "N", "at most this many events (1 to 1000)")
	asJSON := f.boolean("json", "print JSON")
	if _, err := f.parse(args); err != nil {
		return err
	}
	a, err := open(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer a.Close()
	events, err := a.Service.Audit(ctx, account.CLI, account.EventFilter{User: *user, Action: *action,
		Limit: strconv.Itoa(*limit)})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"events": events})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tUSER\tACTION\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), shown(e.Actor), shown(e.User),
			shown(e.Action), shown(e.Detail))
	}
	return tw.Flush()
}
