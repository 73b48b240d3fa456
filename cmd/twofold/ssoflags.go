package main

import (
	"github.com/twofold-auth/twofold/internal/app"
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

// settings answers the app's SSO settings; settings without an issuer are a usage error.
func (s *ssoSettings) settings() (app.SSO, error) {
	if *s.issuer == "" && (*s.clientID != "" || *s.clientSecret != "" || *s.redirectURL != "") {
		return app.SSO{}, usageError{"serve: the SSO settings need --sso-issuer"}
	}
	return app.SSO{Issuer: *s.issuer, ClientID: *s.clientID, ClientSecret: *s.clientSecret,
		RedirectURL: *s.redirectURL, UsernameClaim: *s.usernameClaim}, nil
}
