package authz

import (
	"strings"
	"testing"
)

func rules(t *testing.T, rs ...Rule) []Rule {
	t.Helper()
	for i := range rs {
		if err := rs[i].Compile(); err != nil {
			t.Fatalf("rule %d: %v", i+1, err)
		}
	}
	return rs
}

func target(t *testing.T, method, raw string) Target {
	t.Helper()
	tg, err := ParseTarget(method, raw)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

var (
	alice   = &Who{Username: "alice", Groups: []string{"ops"}}
	alice2f = &Who{Username: "alice", Groups: []string{"ops"}, SecondFactor: true}
	bob2f   = &Who{Username: "bob", Groups: []string{"sales"}, SecondFactor: true}
)

func TestDecide(t *testing.T) {
	rs := rules(t,
		Rule{Hosts: []string{"public.example.com"}, Policy: Bypass},
		Rule{Hosts: []string{"*.example.com"}, Path: `^/admin`, Subjects: []string{"group:ops"}, Policy: TwoFactor},
		Rule{Hosts: []string{"*.example.com"}, Path: `^/admin`, Policy: OneFactor},
		Rule{Hosts: []string{"app.example.com"}, Methods: []string{"GET", "HEAD"}, Policy: OneFactor},
		Rule{Hosts: []string{"app.example.com"}, Path: `\?debug=1`, Policy: Deny},
		Rule{Hosts: []string{"app.example.com"}, Subjects: []string{"user:Bob", "group:ops"}, Policy: OneFactor},
	)
	cases := []struct {
		name, method, url string
		who               *Who
		def               string
		outcome           string
		rule              int
	}{
		{"bypass needs no session", "GET", "https://public.example.com/x", nil, Deny, Allow, 0},
		{"host ignores the port", "GET", "https://public.example.com:8443/x", nil, Deny, Allow, 0},
		{"host is case-blind", "GET", "https://PUBLIC.example.com/", nil, Deny, Allow, 0},
		{"wildcard is not the domain itself", "GET", "https://example.com/admin", alice2f, Deny, Forbidden, -1},
		{"subjects without a session: sign in first", "GET", "https://app.example.com/admin/x", nil, Deny, SignIn, 1},
		{"member with a second factor", "GET", "https://app.example.com/admin/x", alice2f, Deny, Allow, 1},
		{"member without a second factor", "GET", "https://app.example.com/admin/x", alice, Deny, SecondFactor, 1},
		{"outside the subjects: forbidden, not the next rule", "GET", "https://app.example.com/admin/x", bob2f, Deny, Forbidden, 1},
		{"the next rule where the subject rule's path does not match", "GET", "https://app.example.com/x/admin", bob2f, Deny, Allow, 3},
		{"one_factor without a session", "GET", "https://app.example.com/page", nil, Deny, SignIn, 3},
		{"one_factor with a password only", "GET", "https://app.example.com/page", alice, Deny, Allow, 3},
		{"method not listed, query matched", "POST", "https://app.example.com/page?debug=1", alice, Deny, Forbidden, 4},
		{"user subject case-blind", "POST", "https://app.example.com/page", bob2f, Deny, Allow, 5},
		{"group subject", "POST", "https://app.example.com/page", alice, Deny, Allow, 5},
		{"nobody's subject: forbidden, not the default", "POST", "https://app.example.com/page", &Who{Username: "carol"}, TwoFactor, Forbidden, 5},
		{"no rule for the method: the default", "POST", "https://other.example.com/page", &Who{Username: "carol"}, TwoFactor, SecondFactor, -1},
		{"no rule: default deny", "GET", "https://other.example.org/", alice2f, Deny, Forbidden, -1},
		{"no rule: default one_factor", "GET", "https://other.example.org/", nil, OneFactor, SignIn, -1},
		{"no rule: default two_factor", "GET", "https://other.example.org/", alice2f, TwoFactor, Allow, -1},
		{"look-alike host", "GET", "https://public.example.com.evil.org/", nil, Deny, Forbidden, -1},
		{"encoded path is matched decoded", "GET", "https://app.example.com/%61dmin", alice, Deny, SecondFactor, 1},
		{"dot segments are removed", "GET", "https://app.example.com/public/../admin/x", bob2f, Deny, Forbidden, 1},
		{"double slash", "GET", "https://app.example.com//admin", bob2f, Deny, Forbidden, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(rs, c.def, target(t, c.method, c.url), c.who)
			if d.Outcome != c.outcome || d.Rule != c.rule {
				t.Fatalf("%s %s: %s by rule %d, want %s by rule %d (why: %s)", c.method, c.url, d.Outcome, d.Rule,
					c.outcome, c.rule, strings.Join(d.Why, "; "))
			}
		})
	}
}

// TestDecideTrailingDot: a fully qualified host, "admin.example.com.", is the site proxies
// route it to and meets that host's rules, exact and wildcard alike, so that a default kinder
// than the rules is not reached by adding a dot. Only one dot is dropped: two, or a dot alone,
// ParseTarget refuses (TestParseTargetRefuses).
func TestDecideTrailingDot(t *testing.T) {
	rs := rules(t,
		Rule{Hosts: []string{"admin.example.com"}, Subjects: []string{"group:ops"}, Policy: TwoFactor},
		Rule{Hosts: []string{"*.example.com"}, Path: `^/secret`, Policy: Deny},
	)
	bob := &Who{Username: "bob", Groups: []string{"sales"}}
	cases := []struct {
		name, url string
		who       *Who
		outcome   string
		rule      int
	}{
		{"plain host", "https://admin.example.com/", bob, Forbidden, 0},
		{"trailing dot", "https://admin.example.com./", bob, Forbidden, 0},
		{"trailing dot, port and upper case", "https://ADMIN.example.com.:8443/x", bob, Forbidden, 0},
		{"trailing dot, subject rule", "https://admin.example.com./", alice, SecondFactor, 0},
		{"trailing dot, no session", "https://admin.example.com./", nil, SignIn, 0},
		{"wildcard, plain host", "https://app.example.com/secret", bob, Forbidden, 1},
		{"wildcard, trailing dot", "https://app.example.com./secret", bob, Forbidden, 1},
		{"wildcard, trailing dot, other path", "https://app.example.com./page", bob, Allow, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(rs, OneFactor, target(t, "GET", c.url), c.who)
			if d.Outcome != c.outcome || d.Rule != c.rule {
				t.Fatalf("GET %s: %s by rule %d, want %s by rule %d (why: %s)", c.url, d.Outcome, d.Rule,
					c.outcome, c.rule, strings.Join(d.Why, "; "))
			}
		})
	}
}

// TestDecideSubjects: the first rule whose hosts, path and methods match decides, subjects
// or not (SPEC §8): a signed-in person outside its subjects is forbidden there, even when a
// later rule or the default would let them through; without a session they sign in first.
func TestDecideSubjects(t *testing.T) {
	rs := rules(t,
		Rule{Hosts: []string{"app.example.com"}, Path: `^/admin`, Subjects: []string{"group:ops"}, Policy: TwoFactor},
		Rule{Hosts: []string{"app.example.com"}, Methods: []string{"POST"}, Subjects: []string{"user:alice"}, Policy: OneFactor},
		Rule{Hosts: []string{"app.example.com"}, Policy: OneFactor},
		Rule{Hosts: []string{"wiki.example.com"}, Subjects: []string{"user:alice"}, Policy: Bypass},
	)
	cases := []struct {
		name, method, url string
		who               *Who
		outcome           string
		rule              int
	}{
		{"outside, a later rule allows", "GET", "https://app.example.com/admin/x", bob2f, Forbidden, 0},
		{"outside, no session", "GET", "https://app.example.com/admin/x", nil, SignIn, 0},
		{"inside", "GET", "https://app.example.com/admin/x", alice2f, Allow, 0},
		{"outside a bypass rule, the default allows", "GET", "https://wiki.example.com/", bob2f, Forbidden, 3},
		{"inside a bypass rule", "GET", "https://wiki.example.com/", alice, Allow, 3},
		{"outside, method matches", "POST", "https://app.example.com/notes", bob2f, Forbidden, 1},
		{"method does not match: the next rule", "GET", "https://app.example.com/notes", bob2f, Allow, 2},
		{"path does not match: the next rule", "GET", "https://app.example.com/notes/admin", bob2f, Allow, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(rs, OneFactor, target(t, c.method, c.url), c.who)
			if d.Outcome != c.outcome || d.Rule != c.rule {
				t.Fatalf("%s %s: %s by rule %d, want %s by rule %d (why: %s)", c.method, c.url, d.Outcome, d.Rule,
					c.outcome, c.rule, strings.Join(d.Why, "; "))
			}
		})
	}
}

// TestDecidePathReadings: a path that one server reads fully decoded and another as sent
// ("%2F", "%5C" and "%2E" left alone, as Go's ServeMux and nginx's proxy_pass without a URI
// do) is forbidden when the two readings are decided differently, so that the rules for
// /admin cannot be skipped by dressing it as /static/; a path both readings decide alike is
// decided as before.
func TestDecidePathReadings(t *testing.T) {
	rs := rules(t,
		Rule{Hosts: []string{"app.example.com"}, Path: `^/static/`, Policy: Bypass},
		Rule{Hosts: []string{"app.example.com"}, Path: `^/admin`, Policy: TwoFactor},
		Rule{Hosts: []string{"app.example.com"}, Path: `^/api/`, Policy: OneFactor},
		Rule{Hosts: []string{"app.example.com"}, Path: `^/files/café$`, Policy: Bypass},
		Rule{Hosts: []string{"app.example.com"}, Path: `^/a b$`, Policy: Bypass},
		Rule{Hosts: []string{"app.example.com"}, Path: `^/report\?format=csv$`, Policy: Deny},
	)
	cases := []struct {
		name, path string
		who        *Who
		outcome    string
		rule       int
		twoWays    bool
	}{
		// Refused: the decoded path meets the bypass rule, the application serves /admin.
		{"encoded dots", "/admin/users/%2e%2e/%2e%2e/static/", nil, Forbidden, 0, true},
		{"encoded slashes", "/admin/users%2F..%2F..%2Fstatic/x", nil, Forbidden, 0, true},
		{"encoded slashes, a character Go escapes", "/admin/users%2F..%2F..%2Fstatic/x{", nil, Forbidden, 0, true},
		{"encoded dots in upper case", "/admin/%2E%2E/static/x", nil, Forbidden, 0, true},
		{"encoded dot and a literal one", "/admin/.%2e/static/x", nil, Forbidden, 0, true},
		{"signed in too", "/admin/users/%2e%2e/%2e%2e/static/", alice, Forbidden, 0, true},
		// Refused the other way round: the decoded path is /admin, the one sent /static/.
		{"into admin", "/static/..%2Fadmin/x", nil, Forbidden, 1, true},
		{"into admin with a second factor", "/static/%2e%2e/admin/x", alice2f, Forbidden, 1, true},
		// A rule for one reading and the default for the other.
		{"rule and default", "/x/%2e%2e/static/", nil, Forbidden, 0, true},
		// Ordinary paths: both readings meet the same rule.
		{"plain", "/static/app.js", nil, Allow, 0, false},
		{"encoded letter", "/%61dmin/x", nil, SignIn, 1, false},
		{"encoded slash in a name", "/api/v4/projects/group%2Fproject", nil, SignIn, 2, false},
		{"encoded slash in a name, signed in", "/api/v4/projects/group%2Fproject", alice, Allow, 2, false},
		{"encoded slash in lower case", "/admin%2fx", alice, SecondFactor, 1, false},
		{"UTF-8", "/files/caf%C3%A9", nil, Allow, 3, false},
		{"space", "/a%20b", nil, Allow, 4, false},
		{"literal dot segments", "/static/../admin/x", nil, SignIn, 1, false},
		{"encoded dots within one rule", "/admin/a/%2e%2e/b", alice2f, Allow, 1, false},
		{"query", "/static/app.js?next=%2F..%2Fadmin", nil, Allow, 0, false},
		{"query matched", "/report?format=csv", alice2f, Forbidden, 5, false},
		{"query not matched", "/report?format=html", nil, SignIn, -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(rs, OneFactor, target(t, "GET", "https://app.example.com"+c.path), c.who)
			if d.Outcome != c.outcome || d.Rule != c.rule {
				t.Fatalf("GET %s: %s by rule %d, want %s by rule %d (why: %s)", c.path, d.Outcome, d.Rule,
					c.outcome, c.rule, strings.Join(d.Why, "; "))
			}
			said := len(d.Why) > 0 && strings.Contains(d.Why[len(d.Why)-1], "reads differently decoded")
			if said != c.twoWays {
				t.Errorf("GET %s: why %q; want it to say the path reads two ways: %v", c.path, d.Why, c.twoWays)
			}
		})
	}
}

func TestWhy(t *testing.T) {
	rs := rules(t,
		Rule{Hosts: []string{"a.example.com"}, Policy: Bypass},
		Rule{Hosts: []string{"b.example.com"}, Path: `^/x`, Policy: Bypass},
		Rule{Hosts: []string{"b.example.com"}, Methods: []string{"POST"}, Policy: Bypass},
		Rule{Hosts: []string{"b.example.com"}, Subjects: []string{"group:ops"}, Policy: Bypass},
	)
	d := Decide(rs, Deny, target(t, "GET", "https://b.example.com/y"), &Who{Username: "bob"})
	want := []string{"host b.example.com is not a.example.com", `path "/y" does not match "^/x"`,
		"method GET is not POST", "bob is not among its subjects"}
	if d.Outcome != Forbidden || d.Rule != 3 || len(d.Why) != len(want) {
		t.Fatalf("%s by rule %d, why %q", d.Outcome, d.Rule, d.Why)
	}
	for i, w := range want {
		if !strings.Contains(d.Why[i], w) || !strings.HasPrefix(d.Why[i], "rule ") {
			t.Errorf("why[%d] = %q, want it to say %q", i, d.Why[i], w)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for name, r := range map[string]Rule{
		"no host":         {Policy: Bypass},
		"bad policy":      {Hosts: []string{"a.example.com"}, Policy: "allow"},
		"wildcard inside": {Hosts: []string{"a.*.example.com"}, Policy: Bypass},
		"bare wildcard":   {Hosts: []string{"*"}, Policy: Bypass},
		"upper case host": {Hosts: []string{"A.example.com"}, Policy: Bypass},
		"host with port":  {Hosts: []string{"a.example.com:443"}, Policy: Bypass},
		"host with path":  {Hosts: []string{"a.example.com/x"}, Policy: Bypass},
		"bad regexp":      {Hosts: []string{"a.example.com"}, Path: `(`, Policy: Bypass},
		"long regexp":     {Hosts: []string{"a.example.com"}, Path: strings.Repeat("a", MaxPathLen+1), Policy: Bypass},
		"bad method":      {Hosts: []string{"a.example.com"}, Methods: []string{"get"}, Policy: Bypass},
		"bad subject":     {Hosts: []string{"a.example.com"}, Subjects: []string{"role:admin"}, Policy: Bypass},
		"bad group":       {Hosts: []string{"a.example.com"}, Subjects: []string{"group:Ops"}, Policy: Bypass},
		"too many hosts":  {Hosts: make([]string, MaxHosts+1), Policy: Bypass},
		"control in host": {Hosts: []string{"a.example.com\n"}, Policy: Bypass},
	} {
		if err := r.Compile(); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func TestParseTargetRefuses(t *testing.T) {
	for _, raw := range []string{"", "/relative", "ftp://a.example.com/", "https:///nohost", "javascript:alert(1)",
		"https://.admin.example.com/", "https://admin..example.com/", "https://admin.example.com../", "https://./", "https://..:8443/"} {
		if _, err := ParseTarget("GET", raw); err == nil {
			t.Errorf("%q parsed", raw)
		}
	}
	if _, err := ParseTarget("BREW", "https://a.example.com/"); err == nil {
		t.Error("method BREW parsed")
	}
}

// TestParseTargetAmbiguous: a target that servers read in more than one way is refused: a "#"
// (whatever follows it would go unchecked), a backslash (taken for "/" by some servers) and a
// dot segment followed by ";" (taken for the dot segment by some servers); the same characters
// where they mean nothing else are accepted.
func TestParseTargetAmbiguous(t *testing.T) {
	for _, p := range []string{"/public/#/../../admin", "/x?a=1#b", "/#", `/public\..\admin`, "/public%5C..%5Cadmin",
		"/public/%5c/admin", "/public/..;/admin", "/public/..;jsessionid=1/admin", "/public/.;/admin", "/public/%2e%2e;/admin",
		"/public/..%3B/admin", "/..;"} {
		if _, err := ParseTarget("GET", "https://app.example.com"+p); err == nil {
			t.Errorf("%q parsed", p)
		}
	}
	for _, p := range []string{"/a;b=c/d", "/x..;/y", "/...;/y", "/x?q=%23", "/x?q=..;", `/x?q=a\b`, "/x%23y"} {
		if _, err := ParseTarget("GET", "https://app.example.com"+p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}
