package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/errs"
)

// The admin page "Access rules" (SPEC §8): the ordered rules of forward auth, at /admin/rules.

var errNoRules = errs.E(errs.NotFound, "Access rules are not kept by this server.")

// rulesAdmin answers the request's administrator, once the rules exist.
func (h *Handler) rulesAdmin(r *http.Request) (*account.Principal, account.Actor, error) {
	if h.rules == nil {
		return nil, account.Actor{}, errNoRules
	}
	return h.admin(r)
}

// rulesData is the page: the rules in order, the policies a rule may give, and the Check
// form with its answer.
type rulesData struct {
	Rules    []ruleRow
	Policies []string
	// Check is the form "Check", CheckResult its answer (nil before one).
	Check       *form
	CheckResult *access.CheckResult
}

// ruleRow is a rule of the table with the positions its buttons move it to (0: no button).
type ruleRow struct {
	*access.RuleView
	Up, Down int
}

// rulesPage renders the page, with the add form f (nil: empty) and the check form c.
func (h *Handler) rulesPage(w http.ResponseWriter, r *http.Request, p *account.Principal, a account.Actor,
	f *form, c *form, res *access.CheckResult, err error) error {
	list, lerr := h.rules.Rules(r.Context(), a)
	if lerr != nil {
		return lerr
	}
	if c == nil {
		c = newForm(nil)
	}
	rows := make([]ruleRow, len(list))
	for i, rule := range list {
		rows[i].RuleView = rule
		if i > 0 {
			rows[i].Up = rule.Position - 1
		}
		if i < len(list)-1 {
			rows[i].Down = rule.Position + 1
		}
	}
	v := &view{Title: "Access rules", Nav: navOf(p, "rules"), Notice: notice(r), Form: f,
		Data: rulesData{Rules: rows, Policies: authz.Policies, Check: c, CheckResult: res}}
	h.renderForm(w, r, "admin_rules", v, err)
	return nil
}

func (h *Handler) rulesList(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.rulesAdmin(r)
	if err != nil {
		return err
	}
	return h.rulesPage(w, r, p, a, nil, nil, nil, nil)
}

// ruleCheck answers the form "Check" on the page: it changes nothing, so it is a GET.
func (h *Handler) ruleCheck(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.rulesAdmin(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	c := newForm(q)
	res, err := h.rules.CheckURL(r.Context(), a, q.Get("url"), q.Get("user"), q.Get("method"))
	if err != nil {
		e := errs.As(err)
		if e.Code == errs.Internal || e.Code == errs.Forbidden {
			return err
		}
		field := e.Field
		if field == "" {
			field = "url"
		}
		c.fail(err, field)
		return h.rulesPage(w, r, p, a, nil, c, nil, err)
	}
	return h.rulesPage(w, r, p, a, nil, c, res, nil)
}

// words answers the entries of a box where they may be separated by line breaks, commas or
// spaces, each kept as typed.
func words(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// ruleSpec reads the form "Add a rule"; a position that is not a number is refused with its
// field.
func ruleSpec(form url.Values) (access.RuleSpec, int, error) {
	spec := access.RuleSpec{Hosts: words(form.Get("hosts")), Path: form.Get("path"), Methods: words(form.Get("methods")),
		Subjects: words(form.Get("subjects")), Policy: form.Get("policy")}
	position := 0
	if s := strings.TrimSpace(form.Get("position")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return spec, 0, errs.E(errs.Invalid, "The position is a rule's number, from 1; leave it empty to add the rule at the end.").About("position")
		}
		position = n
	}
	return spec, position, nil
}

func (h *Handler) ruleAdd(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, a, err := h.rulesAdmin(r)
	if err != nil {
		return err
	}
	spec, position, err := ruleSpec(r.PostForm)
	if err == nil {
		_, err = h.rules.AddRule(r.Context(), a, spec, position)
	}
	if err != nil {
		if e := errs.As(err); e.Code == errs.Internal || e.Code == errs.Forbidden {
			return err
		}
		return h.rulesPage(w, r, p, a, newForm(r.PostForm).fail(err, errs.As(err).Field), nil, nil, err)
	}
	redirect(w, r, withNotice("/admin/rules", "rule-added"))
	return nil
}

// ruleNumber reads the {n} of a page's path.
func ruleNumber(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return 0, errs.E(errs.NotFound, "There is no rule %q.", r.PathValue("n"))
	}
	return n, nil
}

// ruleMove moves a rule one place up or down (the buttons send the new position).
func (h *Handler) ruleMove(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, a, err := h.rulesAdmin(r)
	if err != nil {
		return err
	}
	n, err := ruleNumber(r)
	if err != nil {
		return err
	}
	m, err := strconv.Atoi(r.PostForm.Get("position"))
	if err != nil {
		return errs.E(errs.Invalid, "The position is a rule's number, from 1.")
	}
	if _, err := h.rules.MoveRule(r.Context(), a, n, m); err != nil {
		return err
	}
	redirect(w, r, withNotice("/admin/rules", "rule-moved"))
	return nil
}

// ruleConfirmData is the page that asks before a rule is removed.
type ruleConfirmData struct {
	Rule   *access.RuleView
	Action string
}

// ruleRemove removes a rule once confirmed: the POST without confirm answers the confirmation
// page, as the other removals do.
func (h *Handler) ruleRemove(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, a, err := h.rulesAdmin(r)
	if err != nil {
		return err
	}
	n, err := ruleNumber(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") == "" {
		list, err := h.rules.Rules(r.Context(), a)
		if err != nil {
			return err
		}
		if n > len(list) {
			return errs.E(errs.NotFound, "There is no rule %d.", n)
		}
		h.render(w, r, http.StatusOK, "admin_rule_confirm", &view{Title: "Remove rule " + strconv.Itoa(n),
			Nav: navOf(p, "rules"), Data: ruleConfirmData{Rule: list[n-1], Action: r.URL.Path}})
		return nil
	}
	if _, err := h.rules.RemoveRule(r.Context(), a, n); err != nil {
		return err
	}
	redirect(w, r, withNotice("/admin/rules", "rule-rm"))
	return nil
}
