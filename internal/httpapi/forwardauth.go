package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/clientaddr"
	"github.com/twofold-auth/twofold/internal/errs"
)

// Forward auth (SPEC §8): a reverse proxy asks, before each request it would pass on, whether
// the request may go through and who makes it. The rules decide (authz, through access.Check);
// these handlers read the target from the proxy's headers, find the session of the cookie the
// proxy forwarded, and say the decision the way each proxy understands.

// Paths of the two endpoints.
const (
	// ForwardAuthPath is for Traefik forwardAuth, Caddy forward_auth, HAProxy and Skipper.
	ForwardAuthPath = "/api/v1/authz/forward-auth"
	// AuthRequestPath is for nginx auth_request.
	AuthRequestPath = "/api/v1/authz/auth-request"
)

// Headers an allowed request's answer carries for the application.
const (
	HeaderRemoteUser   = "Remote-User"
	HeaderRemoteName   = "Remote-Name"
	HeaderRemoteEmail  = "Remote-Email"
	HeaderRemoteGroups = "Remote-Groups"
)

// proxyKind is how a proxy asks and what it understands of an answer.
type proxyKind int

const (
	// forwardAuth: X-Forwarded-Method, -Proto, -Host, -Uri; a browser is redirected itself.
	forwardAuth proxyKind = iota
	// authRequest: X-Original-URL and X-Original-Method; always 401 with Location, which
	// nginx turns into the redirect with error_page 401.
	authRequest
)

var (
	errNoAccessRules = errs.E(errs.NotFound, "Forward auth is not set up on this server: it has no access rules to decide by.")
	errUntrustedPeer = errs.E(errs.Forbidden, "Only a proxy listed in --trusted-proxies may ask for a forward-auth decision.")
	errDenied        = errs.E(errs.Forbidden, "Access to this address is denied.")
	errSignInFirst   = errs.E(errs.NotSignedIn, "Sign in to reach this address.")
	errSecondFactor  = errs.E(errs.NotSignedIn, "This address needs a second factor proved in your sign-in.")
)

func newDecisionCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twofold_forward_auth_decisions_total",
		Help: "Forward-auth decisions by deciding rule (its 1-based number, or default) and outcome."},
		[]string{"rule", "outcome"})
}

func (a *API) forwardAuth(w http.ResponseWriter, r *http.Request) error {
	return a.decide(w, r, forwardAuth)
}

func (a *API) authRequest(w http.ResponseWriter, r *http.Request) error {
	return a.decide(w, r, authRequest)
}

// decide answers one proxied request: 200 with the person's headers, a way to sign in (or to
// prove a second factor), or 403. It reads the session and the rules and writes nothing but
// the session's once-a-minute last use.
func (a *API) decide(w http.ResponseWriter, r *http.Request, kind proxyKind) error {
	if a.access == nil {
		return errNoAccessRules
	}
	if !clientaddr.PeerTrusted(r, a.trusted) {
		return errUntrustedPeer
	}
	raw, t, err := proxiedTarget(r, kind)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var who *authz.Who
	var name, email string
	if token := a.token(r); token != "" {
		si, err := a.svc.CheckSession(ctx, token)
		switch {
		case err == nil:
			who = &authz.Who{Username: si.User.Username, Groups: si.User.Groups, SecondFactor: si.SecondFactor()}
			name, email = si.User.Name, si.User.Email
		case errs.Code(err) != errs.NotSignedIn:
			return err // fail closed: the store could not say
		}
	}
	d, err := access.Check(ctx, a.access, t, who)
	if err != nil {
		return err
	}
	rule := "default"
	if d.Rule >= 0 {
		rule = strconv.Itoa(d.Rule + 1)
	}
	a.decisions.WithLabelValues(rule, d.Outcome).Inc()

	switch d.Outcome {
	case authz.Allow:
		// Without a session (a bypass host) the headers are sent empty rather than left out:
		// a proxy that copies them then replaces whatever the client sent with nothing (Caddy
		// before 2.7 would otherwise pass its own placeholder text on).
		var groups string
		if who != nil {
			groups = strings.Join(who.Groups, ",")
		} else {
			who = &authz.Who{}
		}
		h := w.Header()
		h.Set(HeaderRemoteUser, who.Username)
		h.Set(HeaderRemoteName, name)
		h.Set(HeaderRemoteEmail, email)
		h.Set(HeaderRemoteGroups, groups)
		w.WriteHeader(http.StatusOK)
		return nil
	case authz.SignIn, authz.SecondFactor:
		needMFA := d.Outcome == authz.SecondFactor || d.Policy == authz.TwoFactor
		location := a.signInURL(raw, needMFA)
		w.Header().Set("Location", location)
		if kind == forwardAuth && strings.Contains(r.Header.Get("Accept"), "text/html") {
			status := http.StatusSeeOther
			if t.Method == http.MethodGet || t.Method == http.MethodHead {
				status = http.StatusFound
			}
			w.WriteHeader(status)
			return nil
		}
		if d.Outcome == authz.SecondFactor {
			return errSecondFactor
		}
		return errSignInFirst
	}
	user := ""
	if who != nil {
		user = who.Username
	}
	// The path without its query, which may carry what is not ours to log.
	a.log.InfoContext(ctx, "forward auth denied", "method", t.Method, "host", t.URL.Host, "path", t.URL.Path,
		"rule", rule, "policy", d.Policy, "user", user)
	return errDenied
}

// signInURL is the sign-in page that returns to target, asking for a second factor when needMFA.
func (a *API) signInURL(target string, needMFA bool) string {
	u := a.baseURL + "/signin?rd=" + url.QueryEscape(target)
	if needMFA {
		u += "&mfa=required"
	}
	return u
}

// proxiedTarget reads the request the proxy asks about from its headers, answering it as the
// proxy gave it (for rd) and parsed. Anything missing or malformed is 400 invalid_request: the
// method too, since a rule may name methods and a guess of GET could let another method past a
// rule meant for it.
func proxiedTarget(r *http.Request, kind proxyKind) (string, authz.Target, error) {
	h := r.Header
	var raw, method string
	switch kind {
	case authRequest:
		raw, method = h.Get("X-Original-URL"), h.Get("X-Original-Method")
		if raw == "" {
			return "", authz.Target{}, errs.E(errs.Invalid, "The proxy sent no X-Original-URL header: it must send the address asked for (nginx: proxy_set_header X-Original-URL $scheme://$host:$server_port$request_uri).")
		}
		if method == "" {
			return "", authz.Target{}, errs.E(errs.Invalid, "The proxy sent no X-Original-Method header: it must send the method asked for (nginx: proxy_set_header X-Original-Method $request_method).")
		}
	default:
		proto, host, uri := h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Uri")
		method = h.Get("X-Forwarded-Method")
		var missing []string
		for _, f := range []struct{ name, v string }{{"X-Forwarded-Method", method}, {"X-Forwarded-Proto", proto}, {"X-Forwarded-Host", host}, {"X-Forwarded-Uri", uri}} {
			if f.v == "" {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return "", authz.Target{}, errs.E(errs.Invalid, "The proxy sent no %s header: forward auth needs X-Forwarded-Method, -Proto, -Host and -Uri.", strings.Join(missing, " or "))
		}
		if proto != "http" && proto != "https" {
			return "", authz.Target{}, errs.E(errs.Invalid, "X-Forwarded-Proto must be http or https.")
		}
		if !validHost(host) {
			return "", authz.Target{}, errs.E(errs.Invalid, "X-Forwarded-Host is not a host name with an optional port.")
		}
		if !strings.HasPrefix(uri, "/") {
			return "", authz.Target{}, errs.E(errs.Invalid, "X-Forwarded-Uri must be a path starting with /.")
		}
		raw = proto + "://" + host + uri
	}
	t, err := authz.ParseTarget(method, raw)
	if err != nil {
		return "", authz.Target{}, errs.E(errs.Invalid, "The proxied request is not valid: %s.", err)
	}
	if !validHost(t.URL.Host) || t.URL.User != nil {
		return "", authz.Target{}, errs.E(errs.Invalid, "The proxied request's host is not a host name with an optional port.")
	}
	return raw, t, nil
}

// validHost accepts the characters of a host name or IP literal with an optional port: what a
// Host header holds (authz.ParseTarget refuses a name with an empty label).
func validHost(h string) bool {
	if h == "" || len(h) > 260 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}
