package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
)

// The admin page "Applications" (SPEC §7): the applications that sign people in through
// Twofold, at /admin/clients.

// clientsAdmin answers the provider and the request's administrator.
func (h *Handler) clientsAdmin(r *http.Request) (*account.Principal, account.Actor, error) {
	if h.oidc == nil {
		return nil, account.Actor{}, errNoProvider
	}
	return h.admin(r)
}

func (h *Handler) clients(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.clientsAdmin(r)
	if err != nil {
		return err
	}
	list, err := h.oidc.Clients(r.Context(), a)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_clients", &view{Title: "Applications", Nav: navOf(p, "clients"),
		Notice: notice(r), Data: list})
	return nil
}

func (h *Handler) clientNew(w http.ResponseWriter, r *http.Request) error {
	p, _, err := h.clientsAdmin(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_client_new", &view{Title: "Add an application", Nav: navOf(p, "clients")})
	return nil
}

// lines answers the lines of a text box, without the empty ones; each is kept as typed.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// clientSpec reads the "Add application" form.
func clientSpec(form url.Values) provider.ClientSpec {
	s := provider.ClientSpec{Name: form.Get("name"), RedirectURIs: lines(form.Get("redirect_uris")),
		PostLogoutRedirectURIs: lines(form.Get("post_logout_redirect_uris")),
		BackchannelLogoutURI:   form.Get("backchannel_logout_uri"), Public: form.Get("public") != "",
		RequireMFA: form.Get("require_mfa") != "", SkipConsent: form.Get("skip_consent") != ""}
	if g := form.Get("groups"); g != "" {
		s.Groups = account.GroupList(g)
	}
	return s
}

// secretData is the page that shows a client's id and secret once.
type secretData struct {
	Client *provider.ClientView
	Secret string
	// Added is the page after "Add application"; else after "New secret".
	Added bool
}

// clientAdd registers the application and shows its secret this once, on the answer to the
// post itself: no address leads to it again.
func (h *Handler) clientAdd(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, a, err := h.clientsAdmin(r)
	if err != nil {
		return err
	}
	v, secret, err := h.oidc.AddClient(r.Context(), a, clientSpec(r.PostForm))
	if err != nil {
		f := newForm(r.PostForm).fail(err, errs.As(err).Field)
		h.renderForm(w, r, "admin_client_new", &view{Title: "Add an application", Nav: navOf(p, "clients"), Form: f}, err)
		return nil
	}
	h.render(w, r, http.StatusOK, "admin_client_secret", &view{Title: "Application added", Nav: navOf(p, "clients"),
		Script: secret != "", Data: secretData{Client: v, Secret: secret, Added: true}})
	return nil
}

func (h *Handler) client(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.clientsAdmin(r)
	if err != nil {
		return err
	}
	v, err := h.oidc.Client(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_client", &view{Title: "Application " + v.Name, Nav: navOf(p, "clients"),
		Notice: notice(r), Data: v})
	return nil
}

// clientConfirmData is the page that asks before an action on an application that cannot be
// undone.
type clientConfirmData struct {
	Client  *provider.ClientView
	Action  string // the path the confirmed form posts to
	Heading string
	What    string
	Button  string
}

// confirmClient shows the confirmation page of an action on the application unless the form
// says it was confirmed (as the accounts' actions do); it answers whether it did, and the
// application's administrator.
func (h *Handler) confirmClient(w http.ResponseWriter, r *http.Request, d clientConfirmData) (bool, account.Actor, error) {
	if err := parseForm(w, r); err != nil {
		return true, account.Actor{}, err
	}
	p, a, err := h.clientsAdmin(r)
	if err != nil {
		return true, a, err
	}
	if r.PostForm.Get("confirm") != "" {
		return false, a, nil
	}
	v, err := h.oidc.Client(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return true, a, err
	}
	d.Client, d.Action = v, r.URL.Path
	h.render(w, r, http.StatusOK, "admin_client_confirm", &view{Title: d.Heading + " · " + v.Name,
		Nav: navOf(p, "clients"), Data: d})
	return true, a, nil
}

// clientSecret gives a confidential application a new secret, once confirmed, and shows it
// this once.
func (h *Handler) clientSecret(w http.ResponseWriter, r *http.Request) error {
	asked, a, err := h.confirmClient(w, r, clientConfirmData{Heading: "New secret", Button: "Make a new secret",
		What: "The application's secret stops working now: it cannot sign anyone in until it is given the new one, " +
			"which is shown once."})
	if asked {
		return err
	}
	id := r.PathValue("id")
	secret, err := h.oidc.RotateClientSecret(r.Context(), a, id)
	if err != nil {
		return err
	}
	v, err := h.oidc.Client(r.Context(), a, id)
	if err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_client_secret", &view{Title: "New secret", Nav: navOf(p, "clients"),
		Script: true, Data: secretData{Client: v, Secret: secret}})
	return nil
}

// clientRemove removes the application with every token it holds, once confirmed.
func (h *Handler) clientRemove(w http.ResponseWriter, r *http.Request) error {
	asked, a, err := h.confirmClient(w, r, clientConfirmData{Heading: "Remove the application", Button: "Remove",
		What: "The application can no longer sign anyone in: every token it holds is revoked now, and the " +
			"consents people gave it are forgotten. This cannot be undone."})
	if asked {
		return err
	}
	if err := h.oidc.RemoveClient(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	redirect(w, r, withNotice("/admin/clients", "client-rm"))
	return nil
}

// Lines answers what was typed into a text box of several lines, without the characters
// account.UnsafeRune forbids but for its line breaks.
func (f *form) Lines(name string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && account.UnsafeRune(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(f.Values.Get(name), ""))
}
