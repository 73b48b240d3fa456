package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
)

// The pages of an application's sign-in through Twofold (SPEC §7): the authorization endpoint's
// errors, the way through sign-in, step-up and consent, and logout. The provider decides; these
// handlers only show its decisions.

var errNoProvider = errs.E(errs.NotFound, "Applications cannot sign in through this server: its base URL is not https.")

// authorize runs the library's authorization endpoint. An error it would show as plain text
// (an unknown client, a redirect URI not registered: never sent back to the application) is
// shown on Twofold's error page instead.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) error {
	if h.oidc == nil {
		return errNoProvider
	}
	rec := &recorder{header: http.Header{}}
	h.oidc.Authorize(rec, r)
	if rec.status >= 400 {
		msg := strings.TrimSpace(rec.body.String())
		if msg == "" || len(msg) > 300 {
			msg = "The application's sign-in request is not valid."
		}
		h.errorPage(w, r, http.StatusBadRequest, "This application's sign-in request was refused", errorData{
			Message: "Twofold did not send you back to the application, because the request itself is wrong: " + msg +
				" Tell the application's administrator."})
		return nil
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, err := rec.body.WriteTo(w)
	return err
}

// recorder keeps what a handler answered, to be looked at before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rr *recorder) Header() http.Header { return rr.header }
func (rr *recorder) WriteHeader(code int) {
	if rr.status == 0 {
		rr.status = code
	}
}
func (rr *recorder) Write(b []byte) (int, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	if rr.body.Len() > 64<<10 {
		return len(b), nil
	}
	return rr.body.Write(b)
}

// consentData is the consent and no-access pages.
type consentData struct {
	ID       string
	Client   string
	Username string
	Scopes   []scopeText
}

// scopeText is a scope as the consent page says it.
type scopeText struct{ Name, Text string }

// scopeTexts say what each scope lets an application know or do.
var scopeTexts = map[string]string{
	"openid":         "that it is you (an id of your account, not your username)",
	"profile":        "your name and username",
	"email":          "your email address",
	"groups":         "the groups you belong to",
	"offline_access": "to stay signed in while you are away",
	"phone":          "your phone number (Twofold has none to give)",
	"address":        "your address (Twofold has none to give)",
}

func scopesSaid(scopes []string) []scopeText {
	out := make([]scopeText, 0, len(scopes))
	for _, s := range scopes {
		text, ok := scopeTexts[s]
		if !ok {
			text = s
		}
		out = append(out, scopeText{Name: s, Text: text})
	}
	return out
}

// continueAuthorization carries request id on: to sign-in, to a second factor, to consent, or
// back to the application.
func (h *Handler) continueAuthorization(w http.ResponseWriter, r *http.Request) error {
	if h.oidc == nil {
		return errNoProvider
	}
	id := r.URL.Query().Get("id")
	token := h.token(r)
	d, err := h.oidc.Continue(r.Context(), id, token)
	if err != nil {
		return err
	}
	switch d.Next {
	case provider.NextSignIn:
		q := url.Values{"rd": {d.ReturnTo}}
		if d.Fresh {
			q.Set("prompt", "login")
		}
		if d.LoginHint != "" {
			q.Set("login_hint", d.LoginHint)
		}
		if d.NeedMFA {
			q.Set("mfa", "required")
		}
		redirect(w, r, "/signin?"+q.Encode())
		return nil
	case provider.NextStepUp:
		return h.stepUp(w, r, provider.ContinueURL(id))
	case provider.NextConsent, provider.NextNoAccess:
		p, err := h.principal(r)
		if err != nil {
			return err
		}
		page, title := "consent", "Allow "+d.ClientName+"?"
		if d.Next == provider.NextNoAccess {
			page, title = "noaccess", "You don't have access to "+d.ClientName
		}
		h.render(w, r, http.StatusOK, page, &view{Title: title, Nav: navOf(p, ""),
			Data: consentData{ID: id, Client: d.ClientName, Username: p.Actor().Name, Scopes: scopesSaid(d.Scopes)}})
		return nil
	case provider.NextError:
		target, err := h.oidc.RespondError(r.Context(), id, d.Error)
		if err != nil {
			return err
		}
		http.Redirect(w, r, target, http.StatusFound)
		return nil
	}
	target, err := h.oidc.Respond(r.Context(), id, token)
	if err != nil {
		return err
	}
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// consent is Allow or Deny on the consent page.
func (h *Handler) consent(w http.ResponseWriter, r *http.Request) error {
	if h.oidc == nil {
		return errNoProvider
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PostForm.Get("id")
	allow := r.PostForm.Get("answer") == "allow"
	if err := h.oidc.Consent(r.Context(), id, h.token(r), allow); err != nil {
		return err
	}
	if !allow {
		return h.backToClient(w, r)
	}
	h.onward(w, r, provider.ContinueURL(id))
	return nil
}

// backToClient answers the application access_denied ("Deny", "Back to NAME").
func (h *Handler) backToClient(w http.ResponseWriter, r *http.Request) error {
	if h.oidc == nil {
		return errNoProvider
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if _, err := h.principal(r); err != nil {
		return err
	}
	target, err := h.oidc.Deny(r.Context(), r.PostForm.Get("id"))
	if err != nil {
		return err
	}
	h.onward(w, r, target)
	return nil
}

// endSession is RP-initiated logout: the session ends whatever the request holds, and the
// browser goes to a registered post-logout address or to Twofold's signed-out page.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) error {
	if h.oidc == nil {
		return errNoProvider
	}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
	}
	target, err := h.oidc.EndSession(r, h.token(r))
	if err != nil {
		return err
	}
	h.setCookie(w, "")
	if target != "" {
		http.Redirect(w, r, target, http.StatusFound)
		return nil
	}
	h.render(w, r, http.StatusOK, "signedout", &view{Title: "Signed out"})
	return nil
}

// onward answers a form post whose next stop may be another site: a page that moves on at
// once by itself. A redirect would be refused by the browser under the pages' form-action
// 'self'; this page's move is a navigation of its own, not the form's.
func (h *Handler) onward(w http.ResponseWriter, r *http.Request, target string) {
	h.render(w, r, http.StatusOK, "onward", &view{Title: "Continuing", Data: target, Refresh: target})
}
