package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

// optionRow is one line of the options grid.
type optionRow struct {
	Key, Description, Value, Default string
	Choices                          []string
	Range                            string
}

type optionsData struct {
	Search string
	Rows   []optionRow
}

func optionRows(list []account.OptionView, typed url.Values) []optionRow {
	rows := make([]optionRow, len(list))
	for i, o := range list {
		rows[i] = optionRow{Key: o.Key, Description: o.Description, Value: o.Value, Default: o.Default,
			Choices: o.Choices, Range: o.Range}
		if v, ok := typed[o.Key]; ok && len(v) > 0 {
			rows[i].Value = v[0]
		}
	}
	return rows
}

// adminForm reads a posted form and answers its administrator.
func (h *Handler) adminForm(w http.ResponseWriter, r *http.Request) (*account.Principal, account.Actor, error) {
	if err := parseForm(w, r); err != nil {
		return nil, account.Actor{}, err
	}
	return h.admin(r)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.admin(r)
	if err != nil {
		return err
	}
	search := r.URL.Query().Get("search")
	list, err := h.svc.Options(r.Context(), a, search)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_options", &view{Title: "Options", Nav: navOf(p, "options"),
		Notice: notice(r), Data: optionsData{Search: search, Rows: optionRows(list, nil)}})
	return nil
}

// change is one option about to change, for the confirmation.
type confirmData struct {
	Search  string
	Changes []account.OptionChange
}

// optionsSave is "Save": it checks the values typed and asks for a confirmation; nothing is
// saved until "Confirm".
func (h *Handler) optionsSave(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.adminForm(w, r)
	if err != nil {
		return err
	}
	search := r.PostForm.Get("search")
	changes, err := h.svc.CheckOptions(r.Context(), a, typedOptions(r.PostForm))
	if err != nil {
		return h.optionsRefused(w, r, p, a, search, err)
	}
	if len(changes) == 0 {
		redirect(w, r, optionsURL(search, "unchanged"))
		return nil
	}
	h.render(w, r, http.StatusOK, "admin_confirm", &view{Title: "Change configuration options",
		Nav: navOf(p, "options"), Data: confirmData{Search: search, Changes: changes}})
	return nil
}

// optionsConfirm is "Confirm": the service saves every change in one transaction and audits
// each; a refused value saves none.
func (h *Handler) optionsConfirm(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.adminForm(w, r)
	if err != nil {
		return err
	}
	search := r.PostForm.Get("search")
	if _, err := h.svc.SetOptions(r.Context(), a, typedOptions(r.PostForm)); err != nil {
		return h.optionsRefused(w, r, p, a, search, err)
	}
	redirect(w, r, optionsURL(search, "saved"))
	return nil
}

// typedOptions picks the options' values out of a posted form.
func typedOptions(form url.Values) map[string]string {
	typed := map[string]string{}
	for _, o := range options.All() {
		if v, ok := form[o.Key]; ok && len(v) > 0 {
			typed[o.Key] = v[0]
		}
	}
	return typed
}

// optionsRefused shows the options form again with what the service refused, each beside
// its option; any other error is the page's error.
func (h *Handler) optionsRefused(w http.ResponseWriter, r *http.Request, p *account.Principal, a account.Actor, search string, err error) error {
	var bad account.OptionErrors
	if !errors.As(err, &bad) {
		return err
	}
	f := newForm(r.PostForm)
	for key, kerr := range bad {
		f.fail(kerr, key)
	}
	list, lerr := h.svc.Options(r.Context(), a, search)
	if lerr != nil {
		return lerr
	}
	h.renderForm(w, r, "admin_options", &view{Title: "Options", Nav: navOf(p, "options"), Form: f,
		Data: optionsData{Search: search, Rows: optionRows(list, r.PostForm)}}, err)
	return nil
}

func optionsURL(search, note string) string {
	q := url.Values{"m": {note}}
	if search != "" {
		q.Set("search", search)
	}
	return "/admin/options?" + q.Encode()
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.admin(r)
	if err != nil {
		return err
	}
	list, err := h.svc.Users(r.Context(), a)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_users", &view{Title: "Accounts", Nav: navOf(p, "users"),
		Notice: notice(r), Data: list})
	return nil
}

func (h *Handler) userNew(w http.ResponseWriter, r *http.Request) error {
	p, _, err := h.admin(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_user_new", &view{Title: "Add an account", Nav: navOf(p, "users"),
		Form: newForm(url.Values{"kind": {account.KindInternal}, "source": {account.SourceLocal}, "role": {account.RoleUser}})})
	return nil
}

func (h *Handler) userCreate(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.adminForm(w, r)
	if err != nil {
		return err
	}
	n := account.NewUser{Username: r.PostForm.Get("username"), Email: r.PostForm.Get("email"),
		Name: r.PostForm.Get("name"), Kind: r.PostForm.Get("kind"), Source: r.PostForm.Get("source"),
		Role: r.PostForm.Get("role")}
	v, _, err := h.svc.CreateUser(r.Context(), a, n)
	if err != nil {
		// Beside the field the service says the refusal is about, else at the top.
		f := newForm(r.PostForm).fail(err, errs.As(err).Field)
		h.renderForm(w, r, "admin_user_new", &view{Title: "Add an account", Nav: navOf(p, "users"), Form: f}, err)
		return nil
	}
	redirect(w, r, withNotice(userURL(v.Username), "created"))
	return nil
}

func userURL(name string) string { return "/admin/users/" + url.PathEscape(name) }

func (h *Handler) user(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.admin(r)
	if err != nil {
		return err
	}
	v, err := h.svc.User(r.Context(), a, r.PathValue("username"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_user", &view{Title: "Account " + v.Username, Nav: navOf(p, "users"),
		Notice: notice(r), Data: v})
	return nil
}

// userAction runs an admin action on one account and shows the account again with what
// happened, or with the refusal.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request, note string,
	do func(a account.Actor, name string) (*account.UserView, error)) error {
	p, a, err := h.adminForm(w, r)
	if err != nil {
		return err
	}
	name := r.PathValue("username")
	v, err := do(a, name)
	if err != nil {
		// A refusal about a field of the page's forms is shown beside it, with what was typed.
		e := errs.As(err)
		if e.Code == errs.NotFound || (e.Code == errs.Invalid && e.Field == "") {
			return err
		}
		cur, lerr := h.svc.User(r.Context(), a, name)
		if lerr != nil {
			return lerr
		}
		h.renderForm(w, r, "admin_user", &view{Title: "Account " + cur.Username, Nav: navOf(p, "users"),
			Form: newForm(r.PostForm).fail(err, e.Field), Data: cur}, err)
		return nil
	}
	redirect(w, r, withNotice(userURL(v.Username), note))
	return nil
}

// userConfirmData is the page that asks before an action that cannot be undone.
type userConfirmData struct {
	Username string
	Action   string // the path the confirmed form posts to
	Heading  string
	What     string
	Button   string
	// WithPassword carries Reset MFA's "Also email a new temporary password" through.
	WithPassword bool
}

// confirmFirst shows the confirmation page of an action that destroys (as the options page's
// Confirm) unless the form says it was confirmed; it answers whether it did.
func (h *Handler) confirmFirst(w http.ResponseWriter, r *http.Request, d userConfirmData) (bool, error) {
	if err := parseForm(w, r); err != nil {
		return true, err
	}
	if r.PostForm.Get("confirm") != "" {
		return false, nil
	}
	p, a, err := h.admin(r)
	if err != nil {
		return true, err
	}
	v, err := h.svc.User(r.Context(), a, r.PathValue("username"))
	if err != nil {
		return true, err
	}
	d.Username, d.Action = v.Username, r.URL.Path
	h.render(w, r, http.StatusOK, "admin_user_confirm", &view{Title: d.Heading + " · " + v.Username,
		Nav: navOf(p, "users"), Data: d})
	return true, nil
}

func (h *Handler) userResetMFA(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	withPassword := r.PostForm.Get("with_password") != ""
	if asked, err := h.confirmFirst(w, r, userConfirmData{Heading: "Reset MFA", Button: "Reset MFA",
		WithPassword: withPassword,
		What: "This removes the account's authenticator key, its backup codes and every session. " +
			"The next sign-in sets up MFA again."}); asked {
		return err
	}
	note := "mfa-reset"
	if withPassword {
		note = "mfa-reset+"
	}
	return h.userAction(w, r, note, func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.ResetMFA(r.Context(), a, name, withPassword)
	})
}

func (h *Handler) userUnlock(w http.ResponseWriter, r *http.Request) error {
	return h.userAction(w, r, "unlocked", func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.Unlock(r.Context(), a, name)
	})
}

func (h *Handler) userResetPassword(w http.ResponseWriter, r *http.Request) error {
	if asked, err := h.confirmFirst(w, r, userConfirmData{Heading: "New temporary password",
		Button: "Send a new temporary password",
		What: "The account's password stops working now and every session ends; a new temporary " +
			"password is emailed (“New Password”)."}); asked {
		return err
	}
	return h.userAction(w, r, "pw-reset", func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.ResetPassword(r.Context(), a, name)
	})
}

func (h *Handler) userDisable(w http.ResponseWriter, r *http.Request) error {
	if asked, err := h.confirmFirst(w, r, userConfirmData{Heading: "Disable the account", Button: "Disable",
		What: "The account can no longer sign in and every session ends. You can enable it again later."}); asked {
		return err
	}
	return h.userAction(w, r, "disabled", func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.SetDisabled(r.Context(), a, name, true)
	})
}

func (h *Handler) userEnable(w http.ResponseWriter, r *http.Request) error {
	return h.userAction(w, r, "enabled", func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.SetDisabled(r.Context(), a, name, false)
	})
}

// userGroups is "Add to group" (the names typed, comma-separated) and each group's "Remove".
func (h *Handler) userGroups(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	var c account.GroupChange
	for _, typed := range r.PostForm["add"] {
		c.Add = append(c.Add, account.GroupList(typed)...)
	}
	c.Remove = r.PostForm["remove"]
	return h.userAction(w, r, "groups", func(a account.Actor, name string) (*account.UserView, error) {
		return h.svc.ChangeGroups(r.Context(), a, name, c)
	})
}

type auditData struct {
	User   string
	Events []account.Event
}

// auditLimit is how many events the page lists, as the service's filter takes it.
const auditLimit = "200"

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) error {
	p, a, err := h.admin(r)
	if err != nil {
		return err
	}
	user := r.URL.Query().Get("user")
	events, err := h.svc.Audit(r.Context(), a, account.EventFilter{User: user, Limit: auditLimit})
	if err != nil && errs.Code(err) == errs.Invalid {
		h.renderForm(w, r, "admin_audit", &view{Title: "Audit log", Nav: navOf(p, "audit"),
			Form: newForm(url.Values{"user": {user}}).fail(err, "user"), Data: auditData{User: user}}, err)
		return nil
	}
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "admin_audit", &view{Title: "Audit log", Nav: navOf(p, "audit"),
		Form: newForm(url.Values{"user": {user}}), Data: auditData{User: user, Events: events}})
	return nil
}
