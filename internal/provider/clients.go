package provider

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/loopback"
	"github.com/twofold-auth/twofold/internal/store"
)

// Audit actions of an administrator's changes to applications (SPEC §7 "Audit").
const (
	ActionClientAdded         = "oidc.client_added"
	ActionClientSecretRotated = "oidc.client_secret_rotated"
	ActionClientRemoved       = "oidc.client_removed"
)

// Limits of a registration (SPEC §7 "Applications").
const (
	maxClientName = 100
	maxURI        = 2048
	maxURIs       = 20
	maxGroups     = 64
	// clientIDBytes and clientSecretBytes are the random bytes of an id (128 bits) and of a
	// secret (256 bits, SPEC §7). The id is written in lowercase hex, so that it never begins with
	// "-" and reads as a value, not a flag, on a command line (client show ID); the secret
	// is base64url without padding.
	clientIDBytes     = 16
	clientSecretBytes = 32
)

// ClientSpec is an application to register, as an administrator asks for it (the body of
// POST /admin/clients, the flags of client add); AddClient checks it whole.
type ClientSpec struct {
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	// Public is an application that cannot keep a secret (a single-page or native app): it has
	// none and must use PKCE.
	Public      bool `json:"public"`
	RequireMFA  bool `json:"require_mfa"`
	SkipConsent bool `json:"skip_consent"`
	// Groups, when not empty, admit only their members.
	Groups []string `json:"groups"`
}

// ClientView is a registered application as administrators see it: the one JSON shape of a
// client for the API and the command line. It never holds the secret or its hash.
type ClientView struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// BackchannelLogoutURI is "" when the application takes no logout tokens.
	BackchannelLogoutURI string    `json:"backchannel_logout_uri"`
	RequireMFA           bool      `json:"require_mfa"`
	SkipConsent          bool      `json:"skip_consent"`
	Groups               []string  `json:"groups"`
	CreatedAt            time.Time `json:"created_at"`
}

// ClientWithSecret is a client with the secret just made for it, the answer of a
// registration or of a new secret: shown this once, never again. A public client has none.
type ClientWithSecret struct {
	*ClientView
	ClientSecret string `json:"client_secret,omitempty"`
}

func clientView(c *store.Client) *ClientView {
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return slices.Clone(l)
	}
	return &ClientView{ClientID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: list(c.RedirectURIs),
		PostLogoutRedirectURIs: list(c.PostLogoutRedirectURIs), BackchannelLogoutURI: c.BackchannelLogoutURI,
		RequireMFA: c.RequireMFA, SkipConsent: c.SkipConsent, Groups: list(c.Groups), CreatedAt: c.CreatedAt.UTC()}
}

// AppView is an application a person allowed, or one that holds a token of theirs without
// having asked, as Profile > Applications lists it. AllowedAt is zero for the latter.
type AppView struct {
	ClientID  string    `json:"client_id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	AllowedAt time.Time `json:"allowed_at"`
}

func requireAdmin(a account.Actor) error {
	if !a.Admin {
		return errs.E(errs.Forbidden, "Only administrators may do this.")
	}
	return nil
}

// check refuses a registration that breaks a rule of SPEC §7, naming the field, and answers
// it cleaned: the name without white space around it, each list without repeats, the groups
// sorted.
func (s ClientSpec) check() (ClientSpec, error) {
	s.Name = strings.TrimSpace(s.Name)
	n := utf8.RuneCountInString(s.Name)
	switch {
	case !utf8.ValidString(s.Name) || strings.ContainsFunc(s.Name, account.UnsafeRune):
		return s, errs.E(errs.Invalid, "The name may not contain control characters (such as line breaks, tabs or terminal escapes) or bidirectional overrides.").About("name")
	case n == 0 || n > maxClientName:
		return s, errs.E(errs.Invalid, "The name of an application is 1 to %d characters.", maxClientName).About("name")
	}
	var err error
	if s.RedirectURIs, err = checkURIs("redirect_uris", "redirect URI", s.RedirectURIs); err != nil {
		return s, err
	}
	if len(s.RedirectURIs) == 0 {
		return s, errs.E(errs.Invalid, "An application needs at least one redirect URI.").About("redirect_uris")
	}
	if s.PostLogoutRedirectURIs, err = checkURIs("post_logout_redirect_uris", "post-logout redirect URI", s.PostLogoutRedirectURIs); err != nil {
		return s, err
	}
	if s.BackchannelLogoutURI != "" {
		if err := checkURI("backchannel_logout_uri", "back-channel logout URI", s.BackchannelLogoutURI); err != nil {
			return s, err
		}
	}
	if len(s.Groups) > maxGroups {
		return s, errs.E(errs.Invalid, "An application may be limited to at most %d groups.", maxGroups).About("groups")
	}
	groups := []string{}
	for _, g := range s.Groups {
		if err := account.CheckGroupName("groups", g); err != nil {
			return s, err
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	s.Groups = groups
	return s, nil
}

// checkURIs checks each URI of a list and answers the list without repeats, in its order.
func checkURIs(field, what string, uris []string) ([]string, error) {
	if len(uris) > maxURIs {
		return nil, errs.E(errs.Invalid, "An application may register at most %d of each kind of URI (%s).", maxURIs, field).About(field)
	}
	out := []string{}
	for _, u := range uris {
		if err := checkURI(field, what, u); err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// checkURI applies SPEC §7's rule to one registered URI: absolute, without a fragment or user
// information, https unless its host is a loopback address or localhost, at most maxURI
// characters. It is kept exactly as written, since a redirect URI is matched exactly (no
// wildcard, no prefix): a host must therefore be a host name or an address, so that
// "*.example.com" is refused rather than kept as a pattern that would never match. The
// refusal quotes the URI only once it is known to be short printable ASCII.
func checkURI(field, what, raw string) error {
	bad := func(why string) error {
		return errs.E(errs.Invalid, "The %s %q %s.", what, raw, why).About(field)
	}
	switch {
	case raw == "":
		return errs.E(errs.Invalid, "A %s may not be empty.", what).About(field)
	case len(raw) > maxURI:
		return errs.E(errs.Invalid, "A %s has at most %d characters.", what, maxURI).About(field)
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return errs.E(errs.Invalid, "A %s is written in printable ASCII, without spaces: percent-encode other characters.", what).About(field)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("is not a URI")
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return bad("is not absolute: write it whole, as https://app.example.com/callback")
	case strings.Contains(raw, "#"):
		return bad("has a fragment (#...), which a redirect may not carry")
	case u.User != nil:
		return bad("holds a user name or password before its host")
	case !validHost(u.Hostname()):
		return bad("has no valid host; URIs are matched exactly, so wildcards (*) are not supported")
	case !validPort(u.Port()):
		return bad("has no valid port")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
		return nil
	}
	return bad("must be https (http only for a loopback address or localhost)")
}

// validHost reports whether host is an IP address or a host name (labels of letters, digits,
// '-' and '_').
func validHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// validPort reports whether port is empty or a port number.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// newSecret answers a new client secret and the hash that is stored of it.
func (p *Provider) newSecret() (string, []byte, error) {
	secret, err := randomString(p.rand, clientSecretBytes)
	if err != nil {
		return "", nil, err
	}
	return secret, digest(secret), nil
}

// auditAdmin records an administrator's change to an application with q, in the change's
// own transaction.
func (p *Provider) auditAdmin(ctx context.Context, q store.Queries, a account.Actor, action string, c *store.Client) error {
	return q.AddEvent(ctx, &store.Event{At: p.now(), Actor: a.Name, Action: action,
		Detail: fmt.Sprintf("client %s (%q)", c.ID, c.Name)})
}

// AddClient registers an application (SPEC §7 "Applications"): it answers the client and,
// for a confidential one, its secret, which is shown this once and stored only as a SHA-256
// hash. Nothing is stored when the registration is refused.
func (p *Provider) AddClient(ctx context.Context, a account.Actor, spec ClientSpec) (*ClientView, string, error) {
	if err := requireAdmin(a); err != nil {
		return nil, "", err
	}
	spec, err := spec.check()
	if err != nil {
		return nil, "", err
	}
	b, err := randomBytes(p.rand, clientIDBytes)
	if err != nil {
		return nil, "", err
	}
	id := hex.EncodeToString(b)
	c := &store.Client{ID: id, Name: spec.Name, Public: spec.Public, RedirectURIs: spec.RedirectURIs,
		PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, BackchannelLogoutURI: spec.BackchannelLogoutURI,
		RequireMFA: spec.RequireMFA, SkipConsent: spec.SkipConsent, Groups: spec.Groups, CreatedAt: p.now()}
	var secret string
	if !spec.Public {
		if secret, c.SecretHash, err = p.newSecret(); err != nil {
			return nil, "", err
		}
	}
	err = p.st.Update(ctx, func(q store.Queries) error {
		if err := q.CreateClient(ctx, c); err != nil {
			return err
		}
		return p.auditAdmin(ctx, q, a, ActionClientAdded, c)
	})
	if err != nil {
		return nil, "", err
	}
	return clientView(c), secret, nil
}

// Clients lists every registered application, newest first.
func (p *Provider) Clients(ctx context.Context, a account.Actor) ([]*ClientView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	list, err := p.st.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ClientView, 0, len(list))
	for _, c := range list {
		out = append(out, clientView(c))
	}
	return out, nil
}

// Client answers one registered application.
func (p *Provider) Client(ctx context.Context, a account.Actor, id string) (*ClientView, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	c, err := registered(ctx, p.st, id)
	if err != nil {
		return nil, err
	}
	return clientView(c), nil
}

// registered answers the client id from q, or 404 not_found.
func registered(ctx context.Context, q store.Queries, id string) (*store.Client, error) {
	var c *store.Client
	err := store.ErrNotFound
	if looksLikeID(id) {
		c, err = q.Client(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		if looksLikeID(id) {
			return nil, errs.E(errs.NotFound, "There is no application %q.", id)
		}
		return nil, errs.E(errs.NotFound, "There is no such application.")
	}
	return c, err
}

// looksLikeID reports whether id could be a client id (short base64url), so that anything
// else is neither looked up nor quoted back.
func looksLikeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// RotateClientSecret gives a confidential application a new secret, shown this once; the old
// one stops working at once, on every instance. A public application has none (409).
func (p *Provider) RotateClientSecret(ctx context.Context, a account.Actor, id string) (string, error) {
	if err := requireAdmin(a); err != nil {
		return "", err
	}
	secret, hash, err := p.newSecret()
	if err != nil {
		return "", err
	}
	err = p.st.Update(ctx, func(q store.Queries) error {
		c, err := registered(ctx, q, id)
		if err != nil {
			return err
		}
		if c.Public {
			return errs.E(errs.Conflict, "The application %q is public: it has no secret to replace.", c.Name)
		}
		c.SecretHash = hash
		if err := q.UpdateClient(ctx, c); err != nil {
			return err
		}
		return p.auditAdmin(ctx, q, a, ActionClientSecretRotated, c)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// RemoveClient removes an application with every token it holds, its consents and its
// requests waiting for a sign-in (SPEC §7: "Removing a client revokes every token it holds").
func (p *Provider) RemoveClient(ctx context.Context, a account.Actor, id string) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	return p.st.Update(ctx, func(q store.Queries) error {
		c, err := registered(ctx, q, id)
		if err != nil {
			return err
		}
		if err := q.DeleteClient(ctx, c.ID); err != nil {
			return err
		}
		return p.auditAdmin(ctx, q, a, ActionClientRemoved, c)
	})
}

// Applications lists the applications the person signed in with token allowed, newest first
// (Profile > Applications).
func (p *Provider) Applications(ctx context.Context, token string) ([]AppView, error) {
	si, err := p.acc.SignedIn(ctx, token)
	if err != nil {
		return nil, err
	}
	consents, err := p.st.Consents(ctx, si.User.ID)
	if err != nil {
		return nil, err
	}
	out := []AppView{}
	for _, c := range consents {
		cl, err := p.st.Client(ctx, c.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile, with its consents
		}
		if err != nil {
			return nil, err
		}
		scopes := slices.Clone(c.Scopes)
		if scopes == nil {
			scopes = []string{}
		}
		out = append(out, AppView{ClientID: cl.ID, Name: cl.Name, Scopes: scopes, AllowedAt: c.CreatedAt.UTC()})
	}
	// Applications that ask no consent (--skip-consent) are listed while they hold a token of
	// the person, so that Remove access reaches them too.
	holding, err := p.st.TokenClients(ctx, si.User.ID, p.now())
	if err != nil {
		return nil, err
	}
	for _, id := range holding {
		if slices.ContainsFunc(out, func(a AppView) bool { return a.ClientID == id }) {
			continue
		}
		cl, err := p.st.Client(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, AppView{ClientID: cl.ID, Name: cl.Name, Scopes: []string{}})
	}
	return out, nil
}

// RemoveAccess withdraws the consent the person signed in with token gave the application,
// and revokes every token the application holds for the person and voids its codes not yet
// exchanged, in one transaction (SPEC §7 "Consent"): its next sign-in asks again.
func (p *Provider) RemoveAccess(ctx context.Context, token, clientID string) error {
	si, err := p.acc.SignedIn(ctx, token)
	if err != nil {
		return err
	}
	return p.removeAccess(ctx, si.User, clientID)
}

// removeAccess is RemoveAccess for the account u.
func (p *Provider) removeAccess(ctx context.Context, u *store.User, clientID string) error {
	notAllowed := errs.E(errs.NotFound, "You have not allowed this application, or have removed its access already.")
	if !looksLikeID(clientID) {
		return notAllowed
	}
	return p.st.Update(ctx, func(q store.Queries) error {
		if err := store.LockUser(ctx, q, u.ID); err != nil { // grants and revocations take turns
			return err
		}
		err := q.DeleteConsent(ctx, u.ID, clientID)
		none := errors.Is(err, store.ErrNotFound)
		if err != nil && !none {
			return err
		}
		n, err := q.DeleteTokens(ctx, store.TokenFilter{UserID: u.ID, ClientID: clientID})
		if err != nil {
			return err
		}
		codes, err := q.DeleteUnredeemedCodes(ctx, u.ID, clientID)
		if err != nil {
			return err
		}
		if none && n == 0 && codes == 0 {
			return notAllowed
		}
		return q.AddEvent(ctx, &store.Event{At: p.now(), Actor: u.Username, User: u.Username,
			Action: ActionConsentRemoved, Detail: fmt.Sprintf("client %s; %d tokens revoked", clientID, n)})
	})
}
