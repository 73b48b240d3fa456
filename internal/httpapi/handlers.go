package httpapi

import (
	"context"
	"net/http"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
)

type stepAnswer struct {
	Next                 string   `json:"next"`
	BackupCodes          []string `json:"backup_codes,omitempty"`
	BackupCodesRemaining *int     `json:"backup_codes_remaining,omitempty"`
	BackupCodesLow       *bool    `json:"backup_codes_low,omitempty"`
	NewBackupCode        string   `json:"new_backup_code,omitempty"`
}

// answerStep sets the new session cookie and writes the step.
func (a *API) answerStep(w http.ResponseWriter, st account.Step, withCodes bool) error {
	if st.Token != "" {
		a.setCookie(w, st.Token)
	}
	if st.DeviceToken != "" {
		a.setDeviceCookie(w, st.DeviceToken, st.DeviceMaxAge)
	}
	out := stepAnswer{Next: st.Next, NewBackupCode: st.NewBackupCode}
	if withCodes {
		out.BackupCodes = st.BackupCodes
		if out.BackupCodes == nil {
			out.BackupCodes = []string{}
		}
	}
	if st.UsedBackupCode {
		out.BackupCodesRemaining, out.BackupCodesLow = &st.BackupCodesRemaining, &st.BackupCodesLow
	}
	if withCodes {
		// backup_codes is always present after enrolment, empty when codes are disabled.
		return writeJSON(w, http.StatusOK, struct {
			stepAnswer
			BackupCodes []string `json:"backup_codes"`
		}{out, out.BackupCodes})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) signIn(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	st, err := a.svc.SignIn(r.Context(), account.SignInRequest{Username: in.Username, Password: in.Password,
		Addr: a.clientAddr(r), Token: a.token(r), DeviceToken: a.deviceToken(r)})
	if err != nil {
		return err
	}
	return a.answerStep(w, st, false)
}

func (a *API) signInState(w http.ResponseWriter, r *http.Request) error {
	next, username, err := a.svc.State(r.Context(), a.token(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"next": next, "username": username})
}

type enrollmentAnswer struct {
	AccountName string `json:"account_name"`
	Issuer      string `json:"issuer"`
	Secret      string `json:"secret"`
	Type        string `json:"type"`
	Algorithm   string `json:"algorithm"`
	Digits      int    `json:"digits"`
	Period      int    `json:"period"`
	OTPAuthURI  string `json:"otpauth_uri"`
	QRPNG       string `json:"qr_png"`
}

func writeEnrollment(w http.ResponseWriter, e *account.Enrollment) error {
	return writeJSON(w, http.StatusOK, enrollmentAnswer{AccountName: e.AccountName, Issuer: e.Issuer,
		Secret: e.Secret, Type: "totp", Algorithm: e.Algorithm, Digits: e.Digits, Period: e.Period,
		OTPAuthURI: e.URI, QRPNG: e.QRDataURI()})
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	e, err := a.svc.Enroll(r.Context(), a.token(r))
	if err != nil {
		return err
	}
	return writeEnrollment(w, e)
}

type codeBody struct {
	Code string `json:"code"`
}

func (a *API) enrollVerify(w http.ResponseWriter, r *http.Request) error {
	var in codeBody
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	st, err := a.svc.VerifyEnroll(r.Context(), a.token(r), in.Code)
	if err != nil {
		return err
	}
	return a.answerStep(w, st, true)
}

func (a *API) enrollSkip(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	st, err := a.svc.SkipEnroll(r.Context(), a.token(r))
	if err != nil {
		return err
	}
	return a.answerStep(w, st, false)
}

func (a *API) verify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code           string `json:"code"`
		BackupCode     string `json:"backup_code"`
		RememberDevice bool   `json:"remember_device"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	st, err := a.svc.VerifyDevice(r.Context(), a.token(r), in.Code, in.BackupCode,
		account.DeviceRequest{Remember: in.RememberDevice, UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	return a.answerStep(w, st, false)
}

func (a *API) newPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		NewPassword string `json:"new_password"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	st, err := a.svc.ChangeTemporaryPassword(r.Context(), a.token(r), in.NewPassword)
	if err != nil {
		return err
	}
	return a.answerStep(w, st, false)
}

func (a *API) signOut(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	if err := a.svc.SignOut(r.Context(), a.token(r)); err != nil {
		return err
	}
	a.setCookie(w, "")
	return nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	m, err := a.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	token, err := a.svc.ChangePassword(r.Context(), p, in.CurrentPassword, in.NewPassword, a.clientAddr(r))
	if err != nil {
		return err
	}
	a.setCookie(w, token)
	return nil
}

func (a *API) meEnroll(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	e, err := a.svc.BeginEnroll(r.Context(), p, in.CurrentPassword, a.clientAddr(r))
	if err != nil {
		return err
	}
	return writeEnrollment(w, e)
}

type codesAnswer struct {
	BackupCodes []string `json:"backup_codes"`
}

func codes(c []string) codesAnswer {
	if c == nil {
		c = []string{}
	}
	return codesAnswer{BackupCodes: c}
}

// newCodes answers the backup codes that issue makes for the signed-in account on a correct
// code: enrolment from the profile, and regeneration.
func (a *API) newCodes(w http.ResponseWriter, r *http.Request,
	issue func(context.Context, *account.Principal, string) ([]string, error)) error {
	var in codeBody
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	c, err := issue(r.Context(), p, in.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, codes(c))
}

func (a *API) meEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	return a.newCodes(w, r, a.svc.FinishEnroll)
}

func (a *API) regenerate(w http.ResponseWriter, r *http.Request) error {
	return a.newCodes(w, r, a.svc.RegenerateBackupCodes)
}

func (a *API) options(w http.ResponseWriter, r *http.Request) error {
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	opts, err := a.svc.Options(r.Context(), actor, r.URL.Query().Get("search"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"options": opts})
}

func (a *API) setOption(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Value *string `json:"value"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if in.Value == nil {
		return errs.E(errs.Invalid, "Send the new value as {\"value\": \"...\"}.")
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	o, err := a.svc.SetOption(r.Context(), actor, r.PathValue("key"), *in.Value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (a *API) users(w http.ResponseWriter, r *http.Request) error {
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	list, err := a.svc.Users(r.Context(), actor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": list})
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var in account.NewUser
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	v, _, err := a.svc.CreateUser(r.Context(), actor, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (a *API) user(w http.ResponseWriter, r *http.Request) error {
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	v, err := a.svc.User(r.Context(), actor, r.PathValue("username"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// userAction is an admin action on one account that answers the account.
func (a *API) userAction(w http.ResponseWriter, r *http.Request, body any,
	do func(actor account.Actor, username string) (*account.UserView, error)) error {
	if body == nil {
		body = &struct{}{}
	}
	if err := decode(w, r, body, true); err != nil {
		return err
	}
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	v, err := do(actor, r.PathValue("username"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) resetMFA(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		WithPassword bool `json:"with_password"`
	}
	return a.userAction(w, r, &in, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.ResetMFA(r.Context(), actor, name, in.WithPassword)
	})
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request) error {
	return a.userAction(w, r, nil, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.Unlock(r.Context(), actor, name)
	})
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request) error {
	return a.userAction(w, r, nil, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.ResetPassword(r.Context(), actor, name)
	})
}

func (a *API) disable(w http.ResponseWriter, r *http.Request) error {
	return a.userAction(w, r, nil, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.SetDisabled(r.Context(), actor, name, true)
	})
}

func (a *API) enable(w http.ResponseWriter, r *http.Request) error {
	return a.userAction(w, r, nil, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.SetDisabled(r.Context(), actor, name, false)
	})
}

func (a *API) changeGroups(w http.ResponseWriter, r *http.Request) error {
	var in account.GroupChange
	return a.userAction(w, r, &in, func(actor account.Actor, name string) (*account.UserView, error) {
		return a.svc.ChangeGroups(r.Context(), actor, name, in)
	})
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) error {
	actor, err := a.admin(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	events, err := a.svc.Audit(r.Context(), actor, account.EventFilter{User: q.Get("user"), Action: q.Get("action"),
		Limit: q.Get("limit")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"events": events})
}
