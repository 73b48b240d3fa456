package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/sso"
)

// SSOConfig is sign-in through the organisation's identity provider.
type SSOConfig struct {
	// Client is nil when no identity provider is configured: the routes then answer 404.
	Client *sso.Client
	// Home is where a finished sign-in lands (the base URL's "/"); SignInPage is linked from
	// the page that tells a browser why a sign-in failed (Pages, given to API.Protect).
	Home       string
	SignInPage string
}

// SSOStartPath is where "Login with the identity provider" leads.
const SSOStartPath = "/api/v1/sso/start"

// RegisterSSO adds the routes of sign-in through the identity provider to mux:
//
//	GET  /api/v1/sso/start[?rd=&prompt=login]         302 to the provider
//	GET  /api/v1/sso/callback                         302 to Home with a session, or the error
//	POST /api/v1/admin/users/{username}/sso/link      an admin links a local account
func (a *API) RegisterSSO(c SSOConfig, mux *http.ServeMux) {
	h := &ssoRoutes{a: a, c: c}
	for _, r := range []struct {
		pattern string
		h       handler
	}{
		{"GET " + SSOStartPath, h.start},
		{"GET /api/v1/sso/callback", h.callback},
		{"POST /api/v1/admin/users/{username}/sso/link", h.link},
	} {
		mux.Handle(r.pattern, a.wrap(r.pattern, r.h))
	}
}

type ssoRoutes struct {
	a *API
	c SSOConfig
}

var errNoSSO = errs.E(errs.NotFound, "Sign-in through an identity provider is not configured on this server.")

func (h *ssoRoutes) start(w http.ResponseWriter, r *http.Request) error {
	if h.c.Client == nil {
		return errNoSSO
	}
	q := r.URL.Query()
	to, cookie, err := h.c.Client.Start(r.Context(), h.a.svc.ReturnTarget(q.Get("rd")), q.Get("prompt") == "login")
	if err != nil {
		return h.failed(w, r, err)
	}
	http.SetCookie(w, h.c.Client.Cookie(cookie))
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// callback finishes a sign-in at the provider's redirect. The sign-in cookie is cleared
// whatever happens: it serves once. A failure before the provider's answer is verified leaves
// the browser's session alone (so that a forged callback cannot sign anyone out); after it,
// the new sign-in replaces the session, as a password sign-in does.
func (h *ssoRoutes) callback(w http.ResponseWriter, r *http.Request) error {
	if h.c.Client == nil {
		return errNoSSO
	}
	var pending string
	if ck, err := r.Cookie(sso.CookieName); err == nil {
		pending = ck.Value
	}
	http.SetCookie(w, h.c.Client.Cookie(""))
	id, err := h.c.Client.Finish(r.Context(), pending, r.URL.Query())
	if err != nil {
		return h.failed(w, r, err)
	}
	st, err := h.a.svc.SignInSSO(r.Context(), account.SSOSignInRequest{
		Identity: account.SSOIdentity{Username: id.Username, Claim: id.Claim, Email: id.Email, Name: id.Name,
			Issuer: id.Issuer, Subject: id.Subject, AMR: id.AMR},
		Addr: h.a.clientAddr(r), Token: h.a.token(r), ReturnTo: id.ReturnTo})
	if err != nil {
		if h.a.token(r) != "" {
			h.a.setCookie(w, "")
		}
		return h.failed(w, r, err)
	}
	h.a.setCookie(w, st.Token)
	home := h.c.Home
	switch {
	case strings.HasPrefix(st.ReturnTo, "/"): // a path of Twofold's
		home = strings.TrimSuffix(h.c.Home, "/") + st.ReturnTo
	case st.ReturnTo != "": // a whole address under the cookie domain (account.ReturnTarget)
		home = st.ReturnTo
	}
	http.Redirect(w, r, home, http.StatusFound)
	return nil
}

func (h *ssoRoutes) link(w http.ResponseWriter, r *http.Request) error {
	return h.a.userAction(w, r, nil, func(actor account.Actor, name string) (*account.UserView, error) {
		return h.a.svc.LinkSSO(r.Context(), actor, name)
	})
}

// failed logs why a sign-in through the provider failed and answers the error: JSON for API
// clients, and for a browser (which is where the provider sends people) the pages' error page,
// which says the same and links back to the sign-in page.
func (h *ssoRoutes) failed(w http.ResponseWriter, r *http.Request, err error) error {
	var se *sso.Error
	if errors.As(err, &se) {
		h.a.log.WarnContext(r.Context(), "sign-in through the identity provider failed",
			"kind", se.Kind, "reason", se.Reason.Error())
	}
	if h.a.pages == nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return err
	}
	h.a.pages.SignInFailed(w, r, err, h.c.SignInPage)
	return nil
}
