package web

import (
	"net/http"

	"github.com/twofold-auth/twofold/internal/provider"
)

// Profile > Applications (SPEC §7 "Consent"): the applications the person allowed, each with
// "Remove access".

// applicationsData is the profile's Applications tab.
type applicationsData struct {
	Tab  string
	Apps []provider.AppView
	// Provider is false on a server that cannot be an issuer: no application signs in here.
	Provider bool
}

func (h *Handler) applications(w http.ResponseWriter, r *http.Request) error {
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	d := applicationsData{Tab: "applications", Provider: h.oidc != nil}
	if h.oidc != nil {
		if d.Apps, err = h.oidc.Applications(r.Context(), h.token(r)); err != nil {
			return err
		}
	}
	h.render(w, r, http.StatusOK, "profile_applications", &view{Title: "Applications · Profile",
		Nav: navOf(p, "profile"), Notice: notice(r), Data: d})
	return nil
}

// removeAccess withdraws the person's consent to the application and revokes its tokens.
func (h *Handler) removeAccess(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if h.oidc == nil {
		return errNoProvider
	}
	if err := h.oidc.RemoveAccess(r.Context(), h.token(r), r.PathValue("id")); err != nil {
		return err
	}
	redirect(w, r, withNotice("/profile/applications", "access-rm"))
	return nil
}
