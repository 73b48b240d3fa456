// Package provider makes Twofold an OpenID Connect provider (SPEC §7): applications sign their
// people in through Twofold's own sign-in, enrolment and second factor.
//
// The protocol is the zitadel/oidc op package's. Twofold supplies its storage (storage.go, over
// the store contract, so that every instance agrees), its signing keys (keys.go), and the rules
// of who may sign in to which application and how (flow.go); the pages render the outcome.
package provider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/baseurl"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/loopback"
	"github.com/twofold-auth/twofold/internal/store"
)

// Paths of the pages that carry an authorization through Twofold's sign-in.
const (
	// ContinuePath is where the library sends a request to be signed in (client.LoginURL), and
	// where a finished sign-in returns to.
	ContinuePath = "/oidc/continue"
)

// Endpoints of the protocol, under the issuer. Applications find them through discovery; no
// path but discovery's is a contract (SPEC §7).
var endpoints = struct {
	auth, token, introspect, userinfo, revoke, endSession, keys string
}{"oidc/authorize", "oidc/token", "oidc/introspect", "oidc/userinfo", "oidc/revoke", "oidc/end_session", "oidc/keys"}

// Config holds what a Provider needs.
type Config struct {
	Store    store.Store
	Accounts *account.Service
	Keys     *keys.Keys
	// Issuer is the base URL: https, unless its host is a loopback address or localhost.
	Issuer   string
	Registry prometheus.Registerer
	Now      func() time.Time
	Rand     io.Reader
	Logger   *slog.Logger
}

// Provider is the OpenID Connect provider.
type Provider struct {
	st     store.Store
	acc    *account.Service
	issuer string
	now    func() time.Time
	rand   io.Reader
	log    *slog.Logger
	keys   *keyRing
	op     *op.Provider
	// logouts delivers back-channel logout notices (backchannel.go).
	logouts *Logouts

	clientAuthFailures prometheus.Counter
}

// CheckIssuer applies SPEC §7's rule to an issuer URL: a base URL (baseurl.Check) that is
// https, or http on a loopback address or localhost.
func CheckIssuer(issuer string) error {
	if err := baseurl.Check(issuer); err != nil {
		return err
	}
	if u, _ := url.Parse(issuer); u.Scheme == "https" || loopback.Host(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("the base URL %q must be https (http only for a loopback address or localhost)", issuer)
}

// New makes the provider, with a signing key made at first start.
func New(ctx context.Context, c Config) (*Provider, error) {
	issuer := strings.TrimRight(c.Issuer, "/")
	if err := CheckIssuer(issuer); err != nil {
		return nil, err
	}
	p := &Provider{st: c.Store, acc: c.Accounts, issuer: issuer, now: c.Now, rand: c.Rand, log: c.Logger,
		clientAuthFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "twofold_oidc_client_auth_failures_total",
			Help: "Applications' failed client authentications (unknown client or wrong secret)."})}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.logouts = newLogouts(p)
	if c.Registry != nil {
		for _, m := range []prometheus.Collector{p.clientAuthFailures, p.logouts.outcomes} {
			if err := c.Registry.Register(m); err != nil {
				return nil, err
			}
		}
	}
	p.keys = &keyRing{p: p, sealer: c.Keys}
	if err := p.keys.ensure(ctx); err != nil {
		return nil, err
	}
	config := &op.Config{
		CryptoKey:                         c.Keys.ProviderKey(),
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedUILocales:                []language.Tag{language.English},
		SupportedScopes:                   supportedScopes,
		SupportedClaims:                   supportedClaims,
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint(endpoints.auth), op.NewEndpoint(endpoints.token),
			op.NewEndpoint(endpoints.userinfo), op.NewEndpoint(endpoints.revoke), op.NewEndpoint(endpoints.endSession),
			op.NewEndpoint(endpoints.keys)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(endpoints.introspect)),
		op.WithLogger(p.log),
		op.WithCORSOptions(nil),
	}
	if strings.HasPrefix(issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	var err error
	if p.op, err = op.NewProvider(config, storage{p}, op.StaticIssuer(issuer), opts...); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	return p, nil
}

var (
	supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups, oidc.ScopeOfflineAccess}
	supportedClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
		"azp", "name", "preferred_username", "email", "email_verified", "groups"}
)

// Issuer answers the issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// request answers the stored request id while it waits for its sign-in.
func (p *Provider) request(ctx context.Context, id string) (*authRequest, error) {
	if id == "" || len(id) > 64 {
		return nil, errRequestGone
	}
	a, err := p.st.AuthRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRequestGone
	}
	if err != nil {
		return nil, err
	}
	if a.Done || p.now().Sub(a.CreatedAt) > RequestLifetime {
		return nil, errRequestGone
	}
	return decodeRequest(a, "")
}

// client answers the registered client id as the library sees it.
func (p *Provider) client(ctx context.Context, id string) (*client, error) {
	if id == "" || len(id) > 128 {
		return nil, store.ErrNotFound
	}
	c, err := p.st.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	return &client{c: c, loginURL: p.issuer + ContinuePath}, nil
}

// subject answers the application subject of the account id.
func (p *Provider) subject(ctx context.Context, userID int64) (string, error) {
	u, err := p.st.User(ctx, userID)
	if err != nil {
		return "", err
	}
	if u.Disabled {
		return "", oidc.ErrInvalidGrant().WithDescription("the account is disabled")
	}
	return u.Subject, nil
}

// accessToken answers an access token that still works, with its account.
func (p *Provider) accessToken(ctx context.Context, tokenID, subject string) (*store.Token, *store.User, error) {
	t, err := p.st.Token(ctx, digest(tokenID))
	if err != nil || t.Kind != store.TokenAccess || !p.now().Before(t.ExpiresAt) {
		return nil, nil, oidc.ErrAccessDenied().WithDescription("the token is not active")
	}
	u, err := p.st.User(ctx, t.UserID)
	if err != nil || u.Disabled || u.Subject != subject {
		return nil, nil, oidc.ErrAccessDenied().WithDescription("the token is not active")
	}
	return t, u, nil
}

// Grants and revocations take turns on the account. Every grant (issue) and every revocation
// of an account's tokens by a filter (a family, an application's, all of them in account's
// endSessions) locks the account first (store.LockUser): on PostgreSQL a DELETE sees only the
// rows committed when it starts, and would miss the tokens of a grant committing meanwhile.
// Neither a revocation of one token by its id, which a grant never writes again, nor a
// client's removal, which waits for a grant of the client through the tokens' foreign key and
// takes them by cascade, needs it.

// deleteFamily revokes every token of the grant family, the account userID's.
func (p *Provider) deleteFamily(ctx context.Context, family string, userID int64) (n int, err error) {
	err = p.st.Update(ctx, func(q store.Queries) error {
		if err := store.LockUser(ctx, q, userID); err != nil {
			return err
		}
		n, err = q.DeleteTokens(ctx, store.TokenFilter{Family: family})
		return err
	})
	return n, err
}

// revokeFamily revokes every token of a grant whose refresh token was used twice.
func (p *Provider) revokeFamily(ctx context.Context, family string, userID int64, clientID string) {
	n, err := p.deleteFamily(ctx, family, userID)
	if err != nil {
		p.log.ErrorContext(ctx, "revoking a token family", "client", clientID, "err", err)
		return
	}
	p.audit(ctx, userID, ActionRefreshReplay, fmt.Sprintf("client %s; %d tokens revoked", clientID, n))
}

// audit records an event about the account id; a failure to record is logged.
func (p *Provider) audit(ctx context.Context, userID int64, action, detail string) {
	user := ""
	if userID != 0 {
		if u, err := p.st.User(ctx, userID); err == nil {
			user = u.Username
		}
	}
	actor := user
	if actor == "" {
		actor = "system"
	}
	if err := p.st.AddEvent(ctx, &store.Event{At: p.now(), Actor: actor, User: user, Action: action, Detail: detail}); err != nil {
		p.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

// ProtocolPaths are the paths Handler answers, for the server's mux.
var ProtocolPaths = []string{"/.well-known/openid-configuration", "/" + endpoints.keys, "/" + endpoints.token,
	"/" + endpoints.userinfo, "/" + endpoints.introspect, "/" + endpoints.revoke}

// Handler answers the protocol's endpoints that no page is part of: discovery, keys, token,
// userinfo, introspection and revocation. Authorization and end-session are the pages'
// (Authorize, EndSession).
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	crossOrigin := cors.New(cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, origin string) (bool, []string) {
			return p.publicOrigin(r.Context(), origin), nil
		},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		MaxAge:         600,
	})
	for _, path := range ProtocolPaths[1:] {
		var h http.Handler = p.op
		if path != "/"+endpoints.keys {
			h = noStore(h) // tokens, and what they say of the person
		}
		switch path {
		case "/" + endpoints.introspect:
			mux.Handle(path, h) // for clients' servers, never a browser
		default:
			mux.Handle(path, crossOrigin.Handler(h))
		}
	}
	return mux
}

// noStore marks h's answers as not to be kept by any cache (SPEC §4: answers that carry a
// secret; RFC 6749 §5.1 for the token endpoint's).
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// publicOrigin reports whether origin is the origin of a registered public client's redirect
// URI: the only pages whose scripts may call the token, userinfo, revocation and keys endpoints
// (SPEC §7).
func (p *Provider) publicOrigin(ctx context.Context, origin string) bool {
	clients, err := p.st.Clients(ctx)
	if err != nil {
		return false
	}
	for _, c := range clients {
		if !c.Public {
			continue
		}
		for _, uri := range c.RedirectURIs {
			if u, err := url.Parse(uri); err == nil && u.Scheme+"://"+u.Host == origin {
				return true
			}
		}
	}
	return false
}

// Authorize is the authorization endpoint: the library validates the request and sends it to
// ContinuePath, or answers an error about the client or redirect URI itself, which the pages
// show instead, or sends any other error back to the client, with iss (issuerAuthorizer).
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
	op.Authorize(w, r, issuerAuthorizer{Authorizer: p.op, encoder: p.responseEncoder()})
}

// issuerAuthorizer is the library's provider as its authorization endpoint sees it, whose
// errors sent back to the client are encoded by responseEncoder, with iss, as the code
// (Respond) and Twofold's own errors (RespondError) are. The library's AuthRequestError adds
// no iss and has no option for it; it encodes the error with the Authorizer's Encoder, and
// within op.Authorize nothing else is encoded (a request that passes goes to ContinuePath).
type issuerAuthorizer struct {
	op.Authorizer
	encoder httphelper.Encoder
}

func (a issuerAuthorizer) Encoder() httphelper.Encoder { return a.encoder }

// responseEncoder encodes an authorization response, a code or an error, with RFC 9207's iss:
// discovery promises iss in every one (SPEC §7).
func (p *Provider) responseEncoder() httphelper.Encoder {
	return issuerEncoder{Encoder: p.op.Encoder(), issuer: p.issuer}
}

// issuerEncoder is the library's encoder, which adds iss.
type issuerEncoder struct {
	httphelper.Encoder
	issuer string
}

func (e issuerEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.Encoder.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// AuthorizePath and EndSessionPath are the endpoints the pages serve.
const (
	AuthorizePath  = "/" + "oidc/authorize"
	EndSessionPath = "/" + "oidc/end_session"
)

// discovery lists only what works (SPEC §7): the code flow, S256, the two secret methods and
// none, RS256, the scopes and claims Twofold answers, back-channel logout, and RFC 9207's iss.
// Introspection takes the client's secret by HTTP basic authentication only: the protocol
// library reads no other way for that endpoint.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, storage{p})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.DeviceAuthorizationEndpoint = ""
	d.CheckSessionIframe = ""
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.ClaimsParameterSupported = false
	d.SubjectTypesSupported = []string{"public"}
	d.ACRValuesSupported = []string{account.AMRPassword, account.AMRMFA}
	d.ScopesSupported = supportedScopes
	d.ClaimsSupported = supportedClaims
	d.UILocalesSupported = nil
	body, err := json.Marshal(d)
	if err == nil {
		var m map[string]any
		if err = json.Unmarshal(body, &m); err == nil {
			m["authorization_response_iss_parameter_supported"] = true
			body, err = json.Marshal(m)
		}
	}
	if err != nil {
		http.Error(w, "discovery failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}

// errAccessChanged: the account left the application's groups, or its consent was withdrawn,
// while its sign-in request was being answered.
var errAccessChanged = errs.E(errs.Conflict, "Your access to this application changed meanwhile. Go back to the application and try again.")

// errRequestGone is an authorization request that expired, finished or never was.
var errRequestGone = errors.New("the sign-in request has expired or was finished; go back to the application and try again")

// maxAgeOf answers the request's max_age as a duration, and whether it has one.
func maxAgeOf(r request) (time.Duration, bool) {
	if r.MaxAge == nil {
		return 0, false
	}
	return time.Duration(*r.MaxAge) * time.Second, true
}

// sessionClientsGrace is how long past the longest session a record of a session's clients is
// kept before Sweep removes it untold.
const sessionClientsGrace = 24 * time.Hour

// Sweep removes what no longer works: authorization requests past RequestLifetime and the
// lifetime of a code issued at its end (a redeemed one is kept that long, so that a replay of
// its code still revokes what it issued), tokens past
// their expiry (a used refresh token is kept until then, to recognise its reuse), and, as a
// last resort, session records a day older than any session: the account service's sweep,
// which tells their applications, takes each record once its session has ended, and this
// removes only what it left.
func (p *Provider) Sweep(ctx context.Context) error {
	now := p.now()
	if _, err := p.st.DeleteExpiredAuthRequests(ctx, now.Add(-RequestLifetime-CodeLifetime)); err != nil {
		return err
	}
	if _, err := p.st.DeleteExpiredTokens(ctx, now); err != nil {
		return err
	}
	_, err := p.st.DeleteExpiredSessionClients(ctx, now.Add(-account.SessionLifetime-sessionClientsGrace))
	return err
}
