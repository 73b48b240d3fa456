package httpapi

import (
	"net/http"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
)

// The applications an administrator registers (SPEC §7 "Applications"): /admin/clients.

// provider answers the OpenID Connect provider, 404 when this server is none (an http base
// URL on a host that is not a loopback address).
func (a *API) provider() (*provider.Provider, error) {
	if a.oidc == nil {
		return nil, errs.E(errs.NotFound, "Applications cannot sign in through this server: its base URL is not https.")
	}
	return a.oidc, nil
}

func (a *API) clients(w http.ResponseWriter, r *http.Request) error {
	p, err := a.provider()
	if err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	list, err := p.Clients(r.Context(), actor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"clients": list})
}

// addClient answers the client with its secret, this once (the wrapper sends no-store).
func (a *API) addClient(w http.ResponseWriter, r *http.Request) error {
	p, err := a.provider()
	if err != nil {
		return err
	}
	var in provider.ClientSpec
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	v, secret, err := p.AddClient(r.Context(), actor, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, provider.ClientWithSecret{ClientView: v, ClientSecret: secret})
}

func (a *API) client(w http.ResponseWriter, r *http.Request) error {
	p, err := a.provider()
	if err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	v, err := p.Client(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// rotateClientSecret answers the client with its new secret, this once.
func (a *API) rotateClientSecret(w http.ResponseWriter, r *http.Request) error {
	p, err := a.provider()
	if err != nil {
		return err
	}
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	secret, err := p.RotateClientSecret(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := p.Client(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, provider.ClientWithSecret{ClientView: v, ClientSecret: secret})
}

func (a *API) removeClient(w http.ResponseWriter, r *http.Request) error {
	p, err := a.provider()
	if err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	if err := p.RemoveClient(r.Context(), actor, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
