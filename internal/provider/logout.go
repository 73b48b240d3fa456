package provider

import (
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// EndSession reads an RP-initiated logout (SPEC §7 "Logout") and answers where to send the
// browser once the caller has ended the session: the post_logout_redirect_uri with state when
// it is registered, exactly, for the client that id_token_hint (an expired one too) or
// client_id names, and "" otherwise, for Twofold's own signed-out page. The library reads and
// checks the request; any fault in it only costs the redirect.
func (p *Provider) EndSession(r *http.Request) string {
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil || req.PostLogoutRedirectURI == "" {
		return ""
	}
	session, err := op.ValidateEndSessionRequest(op.ContextWithIssuer(r.Context(), p.issuer), req, p.op)
	if err != nil || session.ClientID == "" {
		return ""
	}
	return session.RedirectURI
}
