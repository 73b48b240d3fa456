package web

import (
	"net/http"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/password"
)

// profileData is the profile page with its two tabs.
type profileData struct {
	Tab string // "details" or "security"
	Me  *account.Me
	// ShowBackup shows the backup-code count and "Regenerate Backup Codes": enrolled, and
	// backup codes enabled.
	ShowBackup bool
	// Regenerate opens the "Regenerate Backup Codes" dialog (after a refused code), with focus
	// on its field (RegenerateFocus "1", as the field template takes it).
	Regenerate      bool
	RegenerateFocus string
	MinLength       int
	MaxLength       int
	// Keys is the "Security keys" section (SPEC §9).
	Keys keysData
	// Devices are the remembered devices (SPEC §10).
	Devices []account.Device
}

func newProfileData(m *account.Me, tab string) profileData {
	return profileData{Tab: tab, Me: m,
		ShowBackup: m.MFA.Enrolled && m.MFA.BackupCodesEnabled && m.MFA.BackupCodesRemaining != nil,
		MinLength:  password.MinLength, MaxLength: password.MaxLength}
}

func (h *Handler) profile(w http.ResponseWriter, r *http.Request) error {
	return h.profileTab(w, r, "details")
}

func (h *Handler) security(w http.ResponseWriter, r *http.Request) error {
	return h.profileTab(w, r, "security")
}

func (h *Handler) profileTab(w http.ResponseWriter, r *http.Request, tab string) error {
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	m, err := h.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	d := newProfileData(m, tab)
	if tab == "security" {
		if d.Keys, err = h.securityKeys(r, p); err != nil {
			return err
		}
		if d.Devices, err = h.svc.Devices(r.Context(), p); err != nil {
			return err
		}
	}
	// app.js moves focus into the Regenerate dialog and closes it with Escape.
	h.render(w, r, http.StatusOK, "profile", &view{Title: "Profile", Nav: navOf(p, "profile"), Notice: notice(r),
		Script: d.ShowBackup, Keys: d.Keys.CanAdd || d.Keys.Prove, Data: d})
	return nil
}

// securityError shows the Security tab again with a refused form.
func (h *Handler) securityError(w http.ResponseWriter, r *http.Request, p *account.Principal, f *form, regenerate bool, cause error) error {
	m, err := h.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	d := newProfileData(m, "security")
	d.Regenerate = regenerate
	if regenerate {
		d.RegenerateFocus = "1"
	}
	if d.Keys, err = h.securityKeys(r, p); err != nil {
		return err
	}
	if d.Devices, err = h.svc.Devices(r.Context(), p); err != nil {
		return err
	}
	h.renderForm(w, r, "profile", &view{Title: "Profile", Nav: navOf(p, "profile"), Form: f, Script: d.ShowBackup,
		Keys: d.Keys.CanAdd || d.Keys.Prove, Data: d}, cause)
	return nil
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	if err := confirmPassword(r, "new_password", "confirm_password"); err != nil {
		return h.securityError(w, r, p, newForm(nil).fail(err, "confirm_password"), false, err)
	}
	token, err := h.svc.ChangePassword(r.Context(), p, r.PostForm.Get("current_password"),
		r.PostForm.Get("new_password"), h.clientAddr(r))
	if err != nil {
		f := newForm(nil)
		switch errs.Code(err) {
		case errs.InvalidCredentials:
			f.fail(err, "current_password")
		case errs.Invalid:
			f.fail(err, "new_password")
		default:
			f.fail(err, "")
		}
		return h.securityError(w, r, p, f, false, err)
	}
	h.setCookie(w, token)
	redirect(w, r, "/profile/security?m=password")
	return nil
}

func (h *Handler) regenerate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	codes, err := h.svc.RegenerateBackupCodes(r.Context(), p, r.PostForm.Get("code"))
	if err != nil {
		return h.securityError(w, r, p, codeError(err, "code"), true, err)
	}
	return h.renderNewCodes(w, r, p, codes)
}

// renderNewCodes shows the backup codes that a regeneration issued, once.
func (h *Handler) renderNewCodes(w http.ResponseWriter, r *http.Request, p *account.Principal, codes []string) error {
	return h.renderCodes(w, r, navOf(p, "profile"), codesData{Title: "New backup codes", Codes: codes, Next: "/profile/security",
		Account: p.Actor().Name,
		Intro:   "These are your new backup codes; every earlier code no longer works. Each code works once."})
}

func (h *Handler) profileEnrollStart(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.BeginEnroll(r.Context(), p, r.PostForm.Get("enroll_password"), h.clientAddr(r)); err != nil {
		f := newForm(nil)
		if errs.Code(err) == errs.InvalidCredentials {
			f.fail(err, "enroll_password")
		} else {
			f.fail(err, "")
		}
		return h.securityError(w, r, p, f, false, err)
	}
	redirect(w, r, "/profile/security/enroll")
	return nil
}

// profilePending answers the signed-in account and the enrolment it began from the profile;
// without one, it sends the person back to the Security tab and answers ok false.
func (h *Handler) profilePending(w http.ResponseWriter, r *http.Request) (p *account.Principal, e *account.Enrollment, ok bool, err error) {
	if p, err = h.principal(r); err != nil {
		return nil, nil, false, err
	}
	if e, err = h.svc.PendingEnrollment(r.Context(), h.token(r)); err != nil {
		return nil, nil, false, err
	}
	if e == nil {
		redirect(w, r, "/profile/security")
		return nil, nil, false, nil
	}
	return p, e, true, nil
}

func (h *Handler) profileEnrollPage(w http.ResponseWriter, r *http.Request) error {
	p, e, ok, err := h.profilePending(w, r)
	if !ok {
		return err
	}
	d := newEnrollData(e)
	d.Profile, d.ContinueURL = true, "/profile/security/enroll/verify"
	h.render(w, r, http.StatusOK, "enroll", &view{Title: "Set up multi-factor authentication",
		Nav: navOf(p, "profile"), Script: true, Data: d})
	return nil
}

func (h *Handler) profileEnrollVerifyPage(w http.ResponseWriter, r *http.Request) error {
	p, _, ok, err := h.profilePending(w, r)
	if !ok {
		return err
	}
	h.render(w, r, http.StatusOK, "verify", &view{Title: "Verification Required", Nav: navOf(p, "profile"),
		Data: verifyProfile})
	return nil
}

func (h *Handler) profileEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	codes, err := h.svc.FinishEnroll(r.Context(), p, r.PostForm.Get("code"))
	if err != nil {
		h.renderForm(w, r, "verify", &view{Title: "Verification Required", Nav: navOf(p, "profile"),
			Form: codeError(err, "code"), Data: verifyProfile}, err)
		return nil
	}
	if len(codes) == 0 {
		redirect(w, r, "/profile/security?m=enrolled")
		return nil
	}
	return h.renderCodes(w, r, navOf(p, "profile"), codesData{Title: "Backup Codes", Codes: codes,
		Next: "/profile/security?m=enrolled", Account: p.Actor().Name,
		Intro: "Multi-factor authentication is set up. If you cannot use your phone or authenticator app, " +
			"sign in with one of these backup codes instead. Each code works once."})
}
