// Package authz is the forward-auth decision of SPEC §8: may a request through a reverse proxy
// go on, and must its person sign in or prove a second factor first. It is a pure function of
// the access rules, the target and who is asking; it does no I/O, so that the check a proxy
// makes before every request costs only a session lookup, and every case is a table test.
package authz

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Policies a rule (or the default) gives a request.
const (
	Bypass    = "bypass"
	OneFactor = "one_factor"
	TwoFactor = "two_factor"
	Deny      = "deny"
)

// Policies lists the rules' policies; DefaultPolicies those the default may take.
var (
	Policies        = []string{Bypass, OneFactor, TwoFactor, Deny}
	DefaultPolicies = []string{Deny, OneFactor, TwoFactor}
)

// Rule is one access rule. The zero Path, Methods and Subjects match everything.
type Rule struct {
	// Hosts are exact host names or "*.example.com" (any host below example.com, not
	// example.com itself); ports are ignored.
	Hosts []string
	// Path is a regular expression matched, unanchored unless it anchors itself, against the
	// path with its query string.
	Path string
	// Methods are upper-case HTTP methods.
	Methods []string
	// Subjects are "user:NAME" or "group:NAME"; a request matches when its person is any.
	Subjects []string
	Policy   string

	path *regexp.Regexp
}

// Limits on a rule, so that one cannot make the check slow.
const (
	MaxHosts    = 50
	MaxPathLen  = 1000
	MaxMethods  = 10
	MaxSubjects = 100
)

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

var subjectRE = regexp.MustCompile(`^(user:[A-Za-z0-9._@-]{1,64}|group:[a-z0-9._-]{1,64})$`)

// Compile checks r and prepares its path expression; its error names what is wrong.
func (r *Rule) Compile() error {
	if !slices.Contains(Policies, r.Policy) {
		return fmt.Errorf("the policy %q is not one of %s", r.Policy, strings.Join(Policies, ", "))
	}
	if len(r.Hosts) == 0 {
		return errors.New("a rule needs at least one host")
	}
	if len(r.Hosts) > MaxHosts || len(r.Methods) > MaxMethods || len(r.Subjects) > MaxSubjects {
		return fmt.Errorf("a rule has at most %d hosts, %d methods and %d subjects", MaxHosts, MaxMethods, MaxSubjects)
	}
	for _, h := range r.Hosts {
		if err := checkHostPattern(h); err != nil {
			return err
		}
	}
	for _, m := range r.Methods {
		if !slices.Contains(methods, m) {
			return fmt.Errorf("the method %q is not one of %s", m, strings.Join(methods, ", "))
		}
	}
	for _, s := range r.Subjects {
		if !subjectRE.MatchString(s) {
			return fmt.Errorf("the subject %q is not user:NAME or group:NAME", s)
		}
	}
	r.path = nil
	if r.Path != "" {
		if len(r.Path) > MaxPathLen {
			return fmt.Errorf("a path expression has at most %d characters", MaxPathLen)
		}
		re, err := regexp.Compile(r.Path)
		if err != nil {
			return fmt.Errorf("the path expression %q does not compile: %v", r.Path, err)
		}
		r.path = re
	}
	return nil
}

// checkHostPattern refuses anything but a host name, or "*." and a host name.
func checkHostPattern(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.Contains(name, "*") || !hostName(name) {
		return fmt.Errorf("the host %q is not a host name or *.domain", h)
	}
	if h != strings.ToLower(h) {
		return fmt.Errorf("the host %q must be written in lower case", h)
	}
	return nil
}

func hostName(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// Target is the request a proxy asks about.
type Target struct {
	Method string
	// URL is the whole address: scheme, host (with any port), path and query.
	URL *url.URL
}

// ParseTarget reads a target from its method and absolute URL, refusing what is not http(s),
// and a host name with an empty label (".admin.example.com", "admin..example.com", "."): a proxy
// may route such a name to a site whose rules it would not meet. One trailing dot is no empty
// label: "admin.example.com." is a fully qualified admin.example.com (targetHost).
//
// It refuses too what servers read in more than one way, so that the rules cannot be met by
// one reading while the application serves another: a "#" (a request has no fragment, and
// url.Parse would drop what follows it unseen), a backslash in the path, literal or "%5C"
// (some servers take it for "/"), and a segment "." or ".." followed by ";" ("/public/..;/admin",
// which some servers read as "..").
func ParseTarget(method, raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 8192 {
		return Target{}, errors.New("the target is not an absolute http or https URL")
	}
	if strings.Contains(raw, "#") {
		return Target{}, errors.New(`the target holds a "#", which no request's address has`)
	}
	if strings.Contains(u.Path, `\`) {
		return Target{}, errors.New(`the path holds a backslash, which some servers read as "/"`)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if strings.HasPrefix(seg, ".;") || strings.HasPrefix(seg, "..;") {
			dots, _, _ := strings.Cut(seg, ";")
			return Target{}, fmt.Errorf("the path segment %q is read as %q by some servers", seg, dots)
		}
	}
	if host := u.Hostname(); net.ParseIP(host) == nil {
		if name := strings.TrimSuffix(host, "."); name == "" || slices.Contains(strings.Split(name, "."), "") {
			return Target{}, fmt.Errorf("the host %q has an empty label", host)
		}
	}
	if method == "" {
		method = "GET"
	}
	method = strings.ToUpper(method)
	if !slices.Contains(methods, method) {
		return Target{}, fmt.Errorf("the method %q is not an HTTP method", method)
	}
	return Target{Method: method, URL: u}, nil
}

// Who is the person asking: nil when there is no session.
type Who struct {
	Username string
	Groups   []string
	// SecondFactor is set when a second factor was proved in the session.
	SecondFactor bool
}

// Outcomes of a decision.
const (
	// Allow: the request goes on (with the person's headers when Who is set).
	Allow = "allow"
	// SignIn: the person signs in first (no session, or a rule with subjects to tell).
	SignIn = "sign_in"
	// SecondFactor: the session proves a second factor first (two_factor).
	SecondFactor = "second_factor"
	// Forbidden: the request is denied (403): a deny policy, a person outside the deciding
	// rule's subjects, or a path that reads differently decoded and as sent.
	Forbidden = "forbidden"
)

// Decision is the answer for one request.
type Decision struct {
	Outcome string
	// Rule is the deciding rule's index (0-based), or -1 for the default.
	Rule   int
	Policy string
	// Why tells, for each rule before the deciding one, why it did not match; then why the
	// deciding rule refused a person outside its subjects, or why a path that reads two ways
	// was refused.
	Why []string
}

// Decide applies the first rule that matches t for who, or the default policy (SPEC §8).
// rules must have been compiled.
//
// The path is read twice: fully decoded without dot segments, as an application that decodes
// it sees it, and as sent, with "%2F", "%5C" and "%2E" kept (Go's ServeMux routes on them
// undecoded; nginx's proxy_pass without a URI passes them on so). When the two readings are
// decided differently, by another rule or with another outcome, the request is Forbidden:
// which one the application serves is not known here, and either may be the one the rules
// keep out.
func Decide(rules []Rule, defaultPolicy string, t Target, who *Who) Decision {
	host := targetHost(t.URL)
	decoded := normalPath(t.URL.Path)
	d := decide(rules, defaultPolicy, host, decoded, t, who)
	if sent, ok := sentPath(t.URL); ok && sent != decoded {
		s := decide(rules, defaultPolicy, host, sent, t, who)
		if s.Rule != d.Rule || s.Outcome != d.Outcome {
			d.Why = append(d.Why, fmt.Sprintf("the path reads differently decoded (%q, %s) and as sent (%q, %s): forbidden",
				decoded, d.summary(), sent, s.summary()))
			d.Outcome = Forbidden
		}
	}
	return d
}

// decide is Decide for one reading of the path. The first rule whose hosts, path and methods
// match decides: a person outside its subjects is Forbidden there rather than passed to a
// later, broader rule (SPEC §8).
func decide(rules []Rule, defaultPolicy, host, p string, t Target, who *Who) Decision {
	var why []string
	pathQuery := p
	if t.URL.RawQuery != "" {
		pathQuery += "?" + t.URL.RawQuery
	}
	for i, r := range rules {
		if reason := r.mismatch(host, pathQuery, t.Method); reason != "" {
			why = append(why, fmt.Sprintf("rule %d: %s", i+1, reason))
			continue
		}
		if len(r.Subjects) > 0 {
			if who == nil {
				// Who it is decides: sign in first.
				return Decision{Outcome: SignIn, Rule: i, Policy: r.Policy, Why: why}
			}
			if !r.hasSubject(who) {
				why = append(why, fmt.Sprintf("rule %d: %s is not among its subjects", i+1, who.Username))
				return Decision{Outcome: Forbidden, Rule: i, Policy: r.Policy, Why: why}
			}
		}
		return Decision{Outcome: outcome(r.Policy, who), Rule: i, Policy: r.Policy, Why: why}
	}
	return Decision{Outcome: outcome(defaultPolicy, who), Rule: -1, Policy: defaultPolicy, Why: why}
}

// summary names d's deciding rule and outcome: "rule 2: sign_in", "default: forbidden".
func (d Decision) summary() string {
	if d.Rule < 0 {
		return "default: " + d.Outcome
	}
	return fmt.Sprintf("rule %d: %s", d.Rule+1, d.Outcome)
}

// targetHost is u's host as the rules name hosts: lower case and without the port. A fully
// qualified name's one trailing dot is dropped too: nginx and Traefik route "admin.example.com."
// to admin.example.com's site, so its rules must apply (ParseTarget refuses any other empty
// label).
func targetHost(u *url.URL) string {
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

// outcome is what a policy answers who.
func outcome(policy string, who *Who) string {
	switch policy {
	case Bypass:
		return Allow
	case OneFactor:
		if who == nil {
			return SignIn
		}
		return Allow
	case TwoFactor:
		switch {
		case who == nil:
			return SignIn
		case !who.SecondFactor:
			return SecondFactor
		}
		return Allow
	}
	return Forbidden
}

// normalPath is the path as the application will see it: percent-decoded and without dot
// segments, so that "/%61dmin" and "/public/../admin" meet the rules for "/admin".
func normalPath(p string) string {
	if p == "" {
		return "/"
	}
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// sentPath is the path as a server that does not decode "%2F", "%5C" or "%2E" reads it: those
// escapes kept as written, every other one decoded, and dot segments removed only between
// literal slashes. "/admin/%2e%2e/static/" stays under /admin, as such a server serves it.
// Without a path as sent (RawPath, kept by url.Parse only when the text was escaped otherwise
// than Go would escape the decoded path, which holds no "%2F" or "%2E", and ParseTarget
// refuses a backslash), the two readings are one, and ok is false.
func sentPath(u *url.URL) (sent string, ok bool) {
	raw := u.RawPath
	if p, err := url.PathUnescape(raw); raw == "" || err != nil || p != u.Path {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) {
			if c, err := strconv.ParseUint(raw[i+1:i+3], 16, 8); err == nil && c != '/' && c != '\\' && c != '.' {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(raw[i])
	}
	return normalPath(b.String()), true
}

// mismatch answers why r does not match the request, or "" when it does.
func (r *Rule) mismatch(host, pathQuery, method string) string {
	if !slices.ContainsFunc(r.Hosts, func(p string) bool { return hostMatches(p, host) }) {
		return "the host " + host + " is not " + strings.Join(r.Hosts, " or ")
	}
	if r.path != nil && !r.path.MatchString(pathQuery) {
		return "the path " + strconv.Quote(pathQuery) + " does not match " + strconv.Quote(r.Path)
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
		return "the method " + method + " is not " + strings.Join(r.Methods, " or ")
	}
	return ""
}

func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return host == pattern
}

func (r *Rule) hasSubject(who *Who) bool {
	for _, s := range r.Subjects {
		kind, name, _ := strings.Cut(s, ":")
		switch {
		case kind == "user" && strings.EqualFold(name, who.Username):
			return true
		case kind == "group" && slices.Contains(who.Groups, name):
			return true
		}
	}
	return false
}
