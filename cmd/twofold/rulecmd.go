package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/authz"
)

// ruleCommand runs twofold rule SUB: the access rules of forward auth (SPEC §8).
func ruleCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("rule " + sub)
	var (
		hosts, methods, subjects *[]string
		path, policy, position   *string
		user, method             *string
		asJSON                   *bool
		want                     []string
	)
	switch sub {
	case "add":
		hosts = f.repeated("host", "H", "a host the rule is for: a name (app.example.com) or *.example.com for every "+
			"host below example.com; repeat it for several", true)
		path = f.text("path", "", "", "REGEX", "a regular expression the path and query must match (unanchored unless it anchors itself)", "any path")
		methods = f.repeated("method", "M", "an HTTP method the rule is for (GET, POST...); repeatable", false)
		subjects = f.repeated("subject", "user:NAME|group:NAME", "who the rule is for; repeatable, any of them matches", false)
		policy = f.required("policy", "P", "bypass, one_factor, two_factor or deny")
		position = f.text("position", "", "", "N", "where the rule goes, from 1 (the rule there and those after it move down)", "the end")
	case "list":
		asJSON = f.boolean("json", "print JSON")
	case "remove":
		want = []string{"N"}
	case "move":
		want = []string{"N"}
		position = f.required("position", "M", "where the rule goes, from 1")
	case "check":
		want = []string{"URL"}
		user = f.text("user", "", "", "NAME", "the account asking, whose groups count", "no session")
		method = f.text("method", "", "GET", "M", "the request's method")
		asJSON = f.boolean("json", "print JSON")
	default:
		return usageError{fmt.Sprintf("unknown command rule %s", sub)}
	}
	pos, err := f.parse(args, want...)
	if err != nil {
		return err
	}
	number := func(name, s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, usageError{fmt.Sprintf("rule %s: %s must be a rule's number, from 1", sub, name)}
		}
		return n, nil
	}
	var n, m int
	switch sub {
	case "add":
		if len(*hosts) == 0 {
			return usageError{"rule add: --host is required"}
		}
		if *policy == "" {
			return usageError{"rule add: --policy is required"}
		}
		if *position != "" {
			if m, err = number("--position", *position); err != nil {
				return err
			}
		}
	case "remove":
		if n, err = number("N", pos[0]); err != nil {
			return err
		}
	case "move":
		if n, err = number("N", pos[0]); err != nil {
			return err
		}
		if m, err = number("--position", *position); err != nil {
			return err
		}
	}
	a, err := open(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer a.Close()
	rules := a.Rules
	switch sub {
	case "add":
		v, err := rules.AddRule(ctx, account.CLI, access.RuleSpec{Hosts: *hosts, Path: *path, Methods: *methods,
			Subjects: *subjects, Policy: *policy}, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added rule %d: %s\n", v.Position, shown(v.String()))
	case "list":
		list, err := rules.Rules(ctx, account.CLI)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"rules": list})
		}
		printRules(stdout, list)
	case "remove":
		v, err := rules.RemoveRule(ctx, account.CLI, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed rule %d: %s\n", n, shown(v.String()))
	case "move":
		v, err := rules.MoveRule(ctx, account.CLI, n, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Moved rule %d to %d: %s\n", n, v.Position, shown(v.String()))
	case "check":
		res, err := rules.CheckURL(ctx, account.CLI, pos[0], *user, *method)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, res)
		}
		printCheck(stdout, res, *user)
	}
	return nil
}

// printRules writes the rules as a table, one a line, in order.
func printRules(w io.Writer, list []*access.RuleView) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No access rules: every request gets the default policy (the option accessDefaultPolicy).")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tPOLICY\tHOSTS\tPATH\tMETHODS\tSUBJECTS")
	or := func(l []string, none string) string {
		if len(l) == 0 {
			return none
		}
		return strings.Join(l, ",")
	}
	for _, r := range list {
		p := r.Path
		if p == "" {
			p = "any"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Position, r.Policy, shown(or(r.Hosts, "")), shown(p),
			or(r.Methods, "any"), shown(or(r.Subjects, "anyone")))
	}
	tw.Flush()
}

// printCheck writes the decision, then, indented, why each rule before it did not match, and
// last a note when the decision waits for a sign-in.
func printCheck(w io.Writer, res *access.CheckResult, user string) {
	fmt.Fprintln(w, shown(res.Decision))
	for _, why := range res.Why {
		fmt.Fprintf(w, "  %s\n", shown(why))
	}
	if user == "" && res.Outcome == authz.SignIn && res.Rule > 0 {
		fmt.Fprintf(w, "Without --user: rule %d names its subjects, so a request without a session signs in first and who it is decides.\n", res.Rule)
	}
}
