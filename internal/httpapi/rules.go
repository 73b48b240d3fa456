package httpapi

import (
	"net/http"
	"strconv"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/errs"
)

// The access rules of forward auth (SPEC §8), for administrators: /admin/rules.

// RegisterRules adds the routes of the access rules, kept by rules, to mux.
func (a *API) RegisterRules(rules *access.Service, mux *http.ServeMux) {
	h := &ruleRoutes{a: a, rules: rules}
	for _, r := range []struct {
		pattern string
		h       handler
	}{
		{"GET /api/v1/admin/rules", h.list},
		{"POST /api/v1/admin/rules", h.add},
		{"DELETE /api/v1/admin/rules/{n}", h.remove},
		{"POST /api/v1/admin/rules/{n}/move", h.move},
		{"POST /api/v1/admin/rules/check", h.check},
	} {
		mux.Handle(r.pattern, a.wrap(r.pattern, r.h))
	}
}

type ruleRoutes struct {
	a     *API
	rules *access.Service
}

// ruleNumber reads the {n} of a path: a rule's position, from 1.
func ruleNumber(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return 0, errs.E(errs.NotFound, "There is no rule %q: rules are numbered from 1.", r.PathValue("n"))
	}
	return n, nil
}

func (h *ruleRoutes) list(w http.ResponseWriter, r *http.Request) error {
	actor, err := h.a.admin(r)
	if err != nil {
		return err
	}
	list, err := h.rules.Rules(r.Context(), actor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rules": list})
}

// newRule is the body of POST /admin/rules: a rule and, optionally, where it goes.
type newRule struct {
	access.RuleSpec
	// Position is where the rule goes, from 1; 0 or none appends.
	Position int `json:"position"`
}

func (h *ruleRoutes) add(w http.ResponseWriter, r *http.Request) error {
	var in newRule
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	actor, err := h.a.admin(r)
	if err != nil {
		return err
	}
	v, err := h.rules.AddRule(r.Context(), actor, in.RuleSpec, in.Position)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (h *ruleRoutes) remove(w http.ResponseWriter, r *http.Request) error {
	actor, err := h.a.admin(r)
	if err != nil {
		return err
	}
	n, err := ruleNumber(r)
	if err != nil {
		return err
	}
	if _, err := h.rules.RemoveRule(r.Context(), actor, n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *ruleRoutes) move(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Position int `json:"position"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	actor, err := h.a.admin(r)
	if err != nil {
		return err
	}
	n, err := ruleNumber(r)
	if err != nil {
		return err
	}
	v, err := h.rules.MoveRule(r.Context(), actor, n, in.Position)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (h *ruleRoutes) check(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		URL    string `json:"url"`
		User   string `json:"user"`
		Method string `json:"method"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	actor, err := h.a.admin(r)
	if err != nil {
		return err
	}
	res, err := h.rules.CheckURL(r.Context(), actor, in.URL, in.User, in.Method)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
