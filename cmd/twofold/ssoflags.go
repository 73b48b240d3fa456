package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/sso"
)

// ssoSettings are serve's flags for sign-in through the identity provider (docs/SSO.md).
type ssoSettings struct {
	issuer, clientID, clientSecret, redirectURL, usernameClaim *string
}

func addSSOFlags(f *flags) *ssoSettings {
	return &ssoSettings{
		issuer:   f.text("sso-issuer", "TWOFOLD_SSO_ISSUER", "", "URL", "OpenID Connect issuer URL of the identity provider (empty: no SSO; docs/SSO.md)"),
		clientID: f.text("sso-client-id", "TWOFOLD_SSO_CLIENT_ID", "", "ID", "client id registered at the identity provider"),
		// The environment is the better place for the secret: flags show in the process list.
		clientSecret: f.text("sso-client-secret", "TWOFOLD_SSO_CLIENT_SECRET", "", "SECRET",
			"client secret registered at the identity provider (prefer the variable: flags show in the process list)"),
		redirectURL: f.text("sso-redirect-url", "TWOFOLD_SSO_REDIRECT_URL", "", "URL", "callback registered at the provider",
			"BASE-URL/api/v1/sso/callback"),
		usernameClaim: f.text("sso-username-claim", "TWOFOLD_SSO_USERNAME_CLAIM", "", "CLAIM", "claim that holds the username",
			"preferred_username, else a verified email"),
	}
}

// client answers the OpenID Connect client, or nil when no issuer is configured. The client
// secret is never logged.
func (s *ssoSettings) client(baseURL string, k *keys.Keys, log *slog.Logger) (*sso.Client, error) {
	if *s.issuer == "" {
		if *s.clientID != "" || *s.clientSecret != "" || *s.redirectURL != "" {
			return nil, usageError{"serve: the SSO settings need --sso-issuer"}
		}
		return nil, nil
	}
	redirect := *s.redirectURL
	if redirect == "" {
		redirect = strings.TrimRight(baseURL, "/") + "/api/v1/sso/callback"
	}
	c, err := sso.New(sso.Config{Issuer: *s.issuer, ClientID: *s.clientID, ClientSecret: *s.clientSecret,
		RedirectURL: redirect, UsernameClaim: *s.usernameClaim, Keys: k})
	if err != nil {
		return nil, usageError{fmt.Sprintf("serve: %v", err)}
	}
	claim := *s.usernameClaim
	if claim == "" {
		claim = sso.DefaultUsernameClaim
	}
	log.Info("sign-in through the identity provider", "issuer", *s.issuer, "client_id", *s.clientID,
		"redirect_url", redirect, "username_claim", claim, "start", httpapi.SSOStartPath)
	return c, nil
}

// wire adds sign-in through the identity provider to serve's routes (they answer 404 when no
// provider is configured) and answers the start URL for the sign-in page ("" hides the link).
// Discovery is tried at once in the background, so that a provider out of reach shows in the
// log at start rather than at the first sign-in.
func (s *ssoSettings) wire(ctx context.Context, a *app, api *httpapi.API, mux *http.ServeMux) (string, error) {
	c, err := s.client(a.baseURL, a.keys, a.log)
	if err != nil {
		return "", err
	}
	base := strings.TrimRight(a.baseURL, "/")
	api.RegisterSSO(httpapi.SSOConfig{Client: c, Home: base + "/", SignInPage: base + "/signin"}, mux)
	if c == nil {
		return "", nil
	}
	go func() {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := c.Discover(dctx); err != nil {
			a.log.Warn("the identity provider cannot be reached yet; sign-ins through it will retry", "issuer", *s.issuer, "err", err)
		}
	}()
	return httpapi.SSOStartPath, nil
}
