package provider

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/store"
)

// Token lifetimes (SPEC §7).
const (
	CodeLifetime        = 60 * time.Second
	AccessTokenLifetime = 15 * time.Minute
	IDTokenLifetime     = 15 * time.Minute
	RefreshLifetime     = 30 * 24 * time.Hour
	// RequestLifetime is how long an authorization request waits for its sign-in.
	RequestLifetime = 30 * time.Minute
)

// ScopeGroups asks for the groups claim.
const ScopeGroups = "groups"

// client is a registered application as the protocol library sees it.
type client struct {
	c        *store.Client
	loginURL string // the page that carries an authorization request through sign-in
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType is web for every client: redirect URIs are matched exactly, with none of the
// port leniency the library gives native clients on loopback addresses.
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes and GrantTypes: the authorization code flow only (SPEC §7).
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c *client) LoginURL(id string) string { return c.loginURL + "?id=" + url.QueryEscape(id) }

func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return IDTokenLifetime }

// DevMode lets a registered http redirect URI of a public client through the library's check:
// registration admits http only for loopback hosts (SPEC §7), and matching stays exact.
func (c *client) DevMode() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the one scope beyond the standard ones that Twofold answers.
func (c *client) IsScopeAllowed(scope string) bool { return scope == ScopeGroups }

// IDTokenUserinfoClaimsAssertion puts the claims of the requested scopes in the ID token too.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
