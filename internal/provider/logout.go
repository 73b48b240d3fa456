package provider

import (
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// EndSession is RP-initiated logout (SPEC §7 "Logout"): it ends the session of token whatever
// the request holds, and answers where to send the browser: the post_logout_redirect_uri with
// state when it is registered, exactly, for the client that id_token_hint (an expired one too)
// or client_id names, and "" otherwise, for Twofold's own signed-out page. The library reads
// and checks the request; any fault in it only costs the redirect.
func (p *Provider) EndSession(r *http.Request, token string) (string, error) {
	ctx := r.Context()
	var target, clientID string
	if req, err := op.ParseEndSessionRequest(r, p.op.Decoder()); err == nil {
		session, err := op.ValidateEndSessionRequest(op.ContextWithIssuer(ctx, p.issuer), req, p.op)
		if err == nil {
			clientID = session.ClientID
			if req.PostLogoutRedirectURI != "" && clientID != "" {
				target = session.RedirectURI
			}
		}
	}
	var userID int64
	if si, err := p.acc.SignedIn(ctx, token); err == nil {
		userID = si.User.ID
	}
	if err := p.acc.SignOut(ctx, token); err != nil {
		return "", err
	}
	if userID != 0 {
		detail := "logout asked by an application"
		if clientID != "" {
			detail += "; client " + clientID
		}
		p.audit(ctx, userID, ActionEndSession, detail)
	}
	return target, nil
}
