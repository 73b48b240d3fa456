package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/cookie"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
)

// home sends a person where they are: their profile, their sign-in's step, or the sign-in page.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) error {
	next, _, err := h.svc.State(r.Context(), h.token(r))
	if err != nil {
		redirect(w, r, "/signin")
		return nil
	}
	redirect(w, r, stepURL(next))
	return nil
}

type signInData struct {
	SSOURL string
	// ReturnTo is where the sign-in goes when done (an application's authorization), and
	// RequireMFA says that application needs a second factor.
	ReturnTo   string
	RequireMFA bool
	// Fresh: an application asked for a new sign-in (prompt=login, or its max_age passed),
	// which the identity provider is asked for too.
	Fresh bool
}

// signInView is the sign-in page's data for a sign-in that returns to returnTo.
func (h *Handler) signInView(returnTo string, requireMFA, fresh bool) signInData {
	d := signInData{SSOURL: h.ssoURL, ReturnTo: returnTo, RequireMFA: requireMFA, Fresh: fresh}
	if h.ssoURL == "" {
		return d
	}
	q := url.Values{}
	if returnTo != "" {
		q.Set("rd", returnTo)
	}
	if fresh {
		q.Set("prompt", "login")
	}
	if len(q) > 0 {
		d.SSOURL += "?" + q.Encode()
	}
	return d
}

// signInPage is the sign-in form. A person signed in already goes on to rd (or the profile),
// unless prompt=login asks for a new sign-in; login_hint fills the username. A session
// without a second factor that is sent here with mfa=required (forward auth's two_factor rule,
// SPEC §8) proves one first: sent back to rd as it is, it would only be sent here again. The
// step-up changes the session (it is a sign-in in progress until the second factor), so a
// navigation another site started (Sec-Fetch-Site: cross-site) gets a page whose Continue
// posts it instead: a link elsewhere cannot change a session with a GET.
func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	returnTo := h.svc.ReturnTarget(q.Get("rd"))
	if si, err := h.svc.SignedIn(r.Context(), h.token(r)); err == nil && q.Get("prompt") != "login" {
		if q.Get("mfa") == "required" && !si.SecondFactor() {
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				h.render(w, r, http.StatusOK, "stepup", &view{Title: "A second factor is needed", Data: returnTo})
				return nil
			}
			return h.stepUp(w, r, returnTo)
		}
		switch {
		case returnTo == "":
			redirect(w, r, "/profile")
		case strings.HasPrefix(returnTo, "/"):
			redirect(w, r, returnTo)
		default:
			// An application behind forward auth: this page may be the answer of a form (the
			// backup codes' "Done"), whose redirect to another site form-action 'self' refuses.
			h.onward(w, r, returnTo)
		}
		return nil
	}
	f := newForm(nil)
	if hint := q.Get("login_hint"); hint != "" && len(hint) <= 64 {
		f = newForm(url.Values{"username": {hint}})
	}
	h.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Notice: notice(r), Form: f,
		Data: h.signInView(returnTo, q.Get("mfa") == "required", q.Get("prompt") == "login")})
	return nil
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	username := r.PostForm.Get("username")
	returnTo := h.svc.ReturnTarget(r.PostForm.Get("rd"))
	requireMFA := r.PostForm.Get("mfa") == "required"
	st, err := h.svc.SignIn(r.Context(), account.SignInRequest{Username: username,
		Password: r.PostForm.Get("password"), Addr: h.clientAddr(r), Token: h.token(r), ReturnTo: returnTo,
		RequireMFA: requireMFA, DeviceToken: cookie.DeviceToken(r)})
	if err != nil {
		// A new sign-in ends what the cookie held, even when it fails.
		h.setCookie(w, "")
		f := newForm(url.Values{"username": {username}})
		switch errs.Code(err) {
		case errs.Invalid:
			f.fail(err, "username")
		default:
			f.fail(err, "")
		}
		v := &view{Title: "Sign in", Form: f, Data: h.signInView(returnTo, requireMFA, r.PostForm.Get("prompt") == "login")}
		h.renderForm(w, r, "signin", v, err)
		return nil
	}
	h.setCookie(w, st.Token)
	return h.moveOn(w, r, st)
}

// stepUpForm is the step-up page's Continue.
func (h *Handler) stepUpForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	return h.stepUp(w, r, r.PostForm.Get("rd")) // StepUp checks it (ReturnTarget)
}

// stepUp sends the session of the request for a second factor, then to returnTo. An account
// with none to prove signs in again first, with its password, and enrols in that sign-in
// (account.ErrPasswordFirst); the session is left as it was until then.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, returnTo string) error {
	st, err := h.svc.StepUp(r.Context(), h.token(r), returnTo)
	if errors.Is(err, account.ErrPasswordFirst) {
		redirect(w, r, "/signin?"+url.Values{"prompt": {"login"}, "mfa": {"required"}, "rd": {returnTo}}.Encode())
		return nil
	}
	if err != nil {
		return err
	}
	h.setCookie(w, st.Token)
	return h.moveOn(w, r, st)
}

// moveOn sends a sign-in to the page of its next step. Enrolment makes its key here, in the
// POST that led to it, so that the enrolment page's GET only reads it.
func (h *Handler) moveOn(w http.ResponseWriter, r *http.Request, st account.Step) error {
	if st.Next == account.StepEnroll || st.Next == account.StepEnrollOptional {
		if _, err := h.svc.Enroll(r.Context(), st.Token); err != nil {
			return err
		}
	}
	if st.Next == account.StepDone && st.ReturnTo != "" {
		h.onward(w, r, st.ReturnTo)
		return nil
	}
	target := stepURL(st.Next)
	if st.Next == account.StepDone {
		target = withNotice(target, "signedin")
	}
	redirect(w, r, target)
	return nil
}

// nextURL is where a step's "Done" leads: the sign-in's return target when it is finished.
func nextURL(st account.Step) string {
	if st.Next == account.StepDone && st.ReturnTo != "" {
		return st.ReturnTo
	}
	return stepURL(st.Next)
}

// enrollData is the enrolment page: the QR code and, under "Set up manually", what to type.
type enrollData struct {
	QR template.URL
	// URI is the otpauth:// link that opens the authenticator app on the phone showing the page.
	URI         template.URL
	AccountName string
	Issuer      string
	Key         string // in groups of four
	Secret      string // as the otpauth URI has it
	Optional    bool
	// Profile is enrolment from the profile rather than during sign-in.
	Profile     bool
	ContinueURL string
	StartURL    string
	// SecurityKey offers "Use a security key instead" of the QR code.
	SecurityKey keyData
}

func newEnrollData(e *account.Enrollment) enrollData {
	if e == nil {
		return enrollData{}
	}
	return enrollData{QR: template.URL(e.QRDataURI()), URI: template.URL(e.URI), AccountName: e.AccountName, Issuer: e.Issuer,
		Key: otp.GroupKey(e.Secret), Secret: e.Secret}
}

// signInStep answers the current step of the request's sign-in, redirecting when it is not
// one of want.
func (h *Handler) signInStep(w http.ResponseWriter, r *http.Request, want ...string) (next, username string, ok bool, err error) {
	next, username, err = h.svc.State(r.Context(), h.token(r))
	if err != nil {
		return "", "", false, err
	}
	for _, s := range want {
		if next == s {
			return next, username, true, nil
		}
	}
	redirect(w, r, stepURL(next))
	return "", "", false, nil
}

func (h *Handler) enrollPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := h.signInStep(w, r, account.StepEnroll, account.StepEnrollOptional); err != nil || !ok {
		return err
	}
	return h.renderEnroll(w, r, nil, nil)
}

// renderEnroll renders the enrolment page of the request's sign-in, with f's refusal (a security
// key refused, say) when cause is not nil.
func (h *Handler) renderEnroll(w http.ResponseWriter, r *http.Request, f *form, cause error) error {
	next, _, err := h.svc.State(r.Context(), h.token(r))
	if err != nil {
		return err
	}
	e, err := h.svc.PendingEnrollment(r.Context(), h.token(r))
	if err != nil {
		return err
	}
	d := newEnrollData(e)
	d.Optional = next == account.StepEnrollOptional
	d.ContinueURL, d.StartURL = "/signin/enroll/verify", "/signin/enroll"
	if d.SecurityKey, err = h.keysOffered(r, keyEnroll); err != nil {
		return err
	}
	h.renderForm(w, r, "enroll", &view{Title: "Set up multi-factor authentication", InSignIn: true,
		Script: d.QR != "", Keys: d.SecurityKey.Offered, Form: f, Data: d}, cause)
	return nil
}

// enrollStart makes the key when the enrolment page was reached without one (the policy
// changed during the sign-in, say); the sign-in POST makes it otherwise.
func (h *Handler) enrollStart(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.svc.Enroll(r.Context(), h.token(r)); err != nil {
		return err
	}
	redirect(w, r, "/signin/enroll")
	return nil
}

// verifyData is the "Verification Required" page, for sign-in and for enrolment.
type verifyData struct {
	Action     string
	Intro      string
	BackupLink bool
	BackURL    string
	BackText   string
	// SecurityKey offers "Use your security key" above the code field.
	SecurityKey keyData
	// RememberDays offers "Remember this device for N days" (SPEC §10); 0 offers nothing.
	RememberDays int
	// Remember keeps the box ticked when the page comes back with an error.
	Remember bool
}

var (
	verifySignIn = verifyData{Action: "/signin/verify", BackupLink: true,
		Intro: "Enter the 6-digit code shown in your authenticator app for this account."}
	verifyEnroll = verifyData{Action: "/signin/enroll/verify", BackURL: "/signin/enroll", BackText: "Back to the QR code",
		Intro: "Enter the 6-digit code that your authenticator app now shows for this account. It changes every 30 seconds."}
	verifyProfile = verifyData{Action: "/profile/security/enroll/verify", BackURL: "/profile/security/enroll",
		BackText: "Back to the QR code",
		Intro:    "Enter the 6-digit code that your authenticator app now shows for this account. It changes every 30 seconds."}
)

func (h *Handler) enrollVerifyPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := h.signInStep(w, r, account.StepEnroll, account.StepEnrollOptional); err != nil || !ok {
		return err
	}
	e, err := h.svc.PendingEnrollment(r.Context(), h.token(r))
	if err != nil {
		return err
	}
	if e == nil {
		redirect(w, r, "/signin/enroll")
		return nil
	}
	h.render(w, r, http.StatusOK, "verify", &view{Title: "Verification Required", InSignIn: true, Data: verifyEnroll})
	return nil
}

func (h *Handler) enrollVerify(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	st, err := h.svc.VerifyEnroll(r.Context(), h.token(r), r.PostForm.Get("code"))
	if errs.Code(err) == errs.Locked {
		h.locked(w, r, err)
		return nil
	}
	if err != nil {
		h.renderForm(w, r, "verify", &view{Title: "Verification Required", InSignIn: true,
			Form: codeError(err, "code"), Data: verifyEnroll}, err)
		return nil
	}
	return h.enrolled(w, r, st)
}

// enrolled answers a sign-in's enrolment that succeeded (a code or a security key): the backup
// codes, shown once, or the next step.
func (h *Handler) enrolled(w http.ResponseWriter, r *http.Request, st account.Step) error {
	h.setCookie(w, st.Token)
	if len(st.BackupCodes) == 0 {
		return h.moveOn(w, r, st)
	}
	_, username, err := h.svc.State(r.Context(), st.Token)
	if err != nil {
		return err
	}
	return h.renderCodes(w, r, nil, codesData{Title: "Backup Codes", Codes: st.BackupCodes, Next: nextURL(st),
		Account: username,
		Intro: "Multi-factor authentication is set up. If you cannot use your phone or authenticator app, " +
			"sign in with one of these backup codes instead. Each code works once."})
}

// codeError puts a refused code next to its field; a lock or anything that is not about the
// code goes to the alert.
func codeError(err error, field string) *form {
	f := newForm(nil)
	switch errs.Code(err) {
	case errs.Invalid, errs.InvalidCode:
		return f.fail(err, field)
	}
	return f.fail(err, "")
}

func (h *Handler) enrollSkip(w http.ResponseWriter, r *http.Request) error {
	st, err := h.svc.SkipEnroll(r.Context(), h.token(r))
	if err != nil {
		return err
	}
	h.setCookie(w, st.Token)
	return h.moveOn(w, r, st)
}

func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := h.signInStep(w, r, account.StepVerify); err != nil || !ok {
		return err
	}
	if locked, err := h.showLock(w, r); locked || err != nil {
		return err
	}
	d, err := h.verifySignInData(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "verify", &view{Title: "Verification Required", InSignIn: true, Keys: d.SecurityKey.Offered, Data: d})
	return nil
}

// verifySignInData is the verification page of a sign-in, offering "Use a backup code" only
// while backup codes are enabled.
func (h *Handler) verifySignInData(r *http.Request) (verifyData, error) {
	d := verifySignIn
	enabled, err := h.svc.BackupCodesEnabled(r.Context())
	if err != nil {
		return d, err
	}
	d.BackupLink = enabled
	if d.RememberDays, err = h.svc.RememberDeviceDays(r.Context(), h.token(r)); err != nil {
		return d, err
	}
	d.SecurityKey, err = h.keysOffered(r, keySignIn)
	return d, err
}

func (h *Handler) verify(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	st, err := h.svc.VerifyDevice(r.Context(), h.token(r), r.PostForm.Get("code"), "", deviceRequest(r))
	return h.verified(w, r, st, err, "code")
}

// deviceRequest is the "Remember this device" box of a "Verification Required" form.
func deviceRequest(r *http.Request) account.DeviceRequest {
	return account.DeviceRequest{Remember: r.PostForm.Get("remember_device") != "", UserAgent: r.UserAgent()}
}

// verified answers a "Verification Required" submission, a code or a security key's answer:
// the locked page, the page again with err (on field when it is about the input), or the next
// step with the session and device cookies.
func (h *Handler) verified(w http.ResponseWriter, r *http.Request, st account.Step, err error, field string) error {
	if errs.Code(err) == errs.Locked {
		h.locked(w, r, err)
		return nil
	}
	if err != nil {
		d, derr := h.verifySignInData(r)
		if derr != nil {
			return derr
		}
		d.Remember = deviceRequest(r).Remember
		h.renderForm(w, r, "verify", &view{Title: "Verification Required", InSignIn: true,
			Form: codeError(err, field), Keys: d.SecurityKey.Offered, Data: d}, err)
		return nil
	}
	h.setCookie(w, st.Token)
	h.setDeviceCookie(w, st)
	return h.moveOn(w, r, st)
}

// lockedData is the page of a locked second factor: no form, only when it opens again.
type lockedData struct {
	Forever bool
	Until   time.Time
}

// locked answers a code check refused by a second-factor lock: the sign-in cannot go on, so
// the page offers no code field, only when to try again.
func (h *Handler) locked(w http.ResponseWriter, r *http.Request, err error) {
	e := errs.As(err)
	errs.SetRetryAfter(w.Header(), e, h.svc.Now)
	h.render(w, r, errs.Status(e.Code), "locked", &view{Title: "Second factor locked",
		Data: lockedData{Forever: e.LockedUntil.IsZero(), Until: e.LockedUntil}})
}

// showLock shows the locked page instead of a code form when the sign-in's second factor is
// locked (by another sign-in's wrong codes, say); it answers whether it did.
func (h *Handler) showLock(w http.ResponseWriter, r *http.Request) (bool, error) {
	lock, err := h.svc.SecondFactorLock(r.Context(), h.token(r))
	if err != nil || lock == nil {
		return false, err
	}
	h.locked(w, r, lock)
	return true, nil
}

func (h *Handler) backupPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := h.signInStep(w, r, account.StepVerify); err != nil || !ok {
		return err
	}
	if locked, err := h.showLock(w, r); locked || err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "backup", &view{Title: "Use a backup code", InSignIn: true})
	return nil
}

func (h *Handler) backup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	st, err := h.svc.Verify(r.Context(), h.token(r), "", r.PostForm.Get("backup_code"))
	if errs.Code(err) == errs.Locked {
		h.locked(w, r, err)
		return nil
	}
	if err != nil {
		f := codeError(err, "backup_code")
		if errs.Code(err) == errs.Forbidden { // backup codes are turned off: about this field too
			f = newForm(nil).fail(err, "backup_code")
		}
		h.renderForm(w, r, "backup", &view{Title: "Use a backup code", InSignIn: true, Form: f}, err)
		return nil
	}
	h.setCookie(w, st.Token)
	if st.NewBackupCode == "" && !st.BackupCodesLow {
		return h.moveOn(w, r, st)
	}
	d := codesData{Title: "Signed in with a backup code", Next: nextURL(st), UsedBackup: true,
		Remaining: st.BackupCodesRemaining, Low: st.BackupCodesLow}
	if st.NewBackupCode != "" {
		d.Codes = []string{st.NewBackupCode}
		d.Intro = "A new backup code was made in place of the one you used. Keep it with your other codes: it is shown only now."
	}
	_, username, err := h.svc.State(r.Context(), st.Token)
	if err != nil {
		return err
	}
	d.Account = username
	var n *nav
	if st.Next == account.StepDone {
		// Signed in now: the top bar, as on every page of a session.
		n = &nav{Username: username}
		if p, err := h.svc.Authenticate(r.Context(), st.Token); err == nil {
			n = navOf(p, "")
		}
	}
	return h.renderCodes(w, r, n, d)
}

// codesData is the page that shows backup codes once.
type codesData struct {
	Title string
	Intro string
	Codes []string
	// Account and Issuer say what the codes are for, on the page, the printout and the file.
	Account, Issuer string
	Made            string
	Next            string
	// NextPath and NextQuery are Next as "Done"'s GET form sends it.
	NextPath   string
	NextQuery  url.Values
	Download   template.URL
	UsedBackup bool
	Remaining  int
	Low        bool
}

// renderCodes shows backup codes in the answer of the POST that made them: they are stored
// nowhere else, so they cannot be shown again. Download is a data: link, so it works without
// JavaScript.
func (h *Handler) renderCodes(w http.ResponseWriter, r *http.Request, n *nav, d codesData) error {
	issuer, err := h.svc.Issuer(r.Context())
	if err != nil {
		return err
	}
	d.Issuer, d.Made = issuer, when(h.svc.Now())
	next, err := url.Parse(d.Next)
	if err != nil {
		return err
	}
	d.NextPath, d.NextQuery = next.Path, next.Query()
	if next.IsAbs() {
		// An application's address (forward auth): "Done" goes through the sign-in page, which
		// sends a signed-in person on to it, since the form may not leave the site itself.
		d.NextPath, d.NextQuery = "/signin", url.Values{"rd": {d.Next}}
	}
	if len(d.Codes) > 0 {
		var b strings.Builder
		b.WriteString("Twofold backup codes\n\n")
		b.WriteString("Account: " + d.Account + "\n")
		b.WriteString("Issuer: " + d.Issuer + "\n")
		b.WriteString("Made: " + d.Made + "\n\n")
		for _, c := range d.Codes {
			b.WriteString(c + "\n")
		}
		b.WriteString("\nEach code works once. Keep them somewhere safe, such as a password manager.\n")
		d.Download = template.URL("data:text/plain;charset=utf-8;base64," +
			base64.StdEncoding.EncodeToString([]byte(b.String())))
	}
	// Every codes page loads app.js: Copy and Print, and Done held until the codes are saved.
	h.render(w, r, http.StatusOK, "codes", &view{Title: d.Title, Nav: n, Script: true, Data: d})
	return nil
}

// passwordData is the new-password page; the rules come from the password package and are
// said before the person types.
type passwordData struct {
	Username  string
	MinLength int
	MaxLength int
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) error {
	_, username, ok, err := h.signInStep(w, r, account.StepChangePassword)
	if err != nil || !ok {
		return err
	}
	h.render(w, r, http.StatusOK, "password", &view{Title: "Choose a new password", InSignIn: true,
		Data: passwordData{Username: username, MinLength: password.MinLength, MaxLength: password.MaxLength}})
	return nil
}

// confirmPassword answers a refusal when the two password fields differ: a check of the form,
// not a password rule.
func confirmPassword(r *http.Request, field, confirm string) error {
	if r.PostForm.Get(field) != r.PostForm.Get(confirm) {
		return errs.E(errs.Invalid, "The two passwords are not the same. Type the new password twice.")
	}
	return nil
}

func (h *Handler) password(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, username, ok, err := h.signInStep(w, r, account.StepChangePassword)
	if err != nil || !ok {
		return err
	}
	d := passwordData{Username: username, MinLength: password.MinLength, MaxLength: password.MaxLength}
	if err := confirmPassword(r, "new_password", "confirm_password"); err != nil {
		h.renderForm(w, r, "password", &view{Title: "Choose a new password", InSignIn: true,
			Form: newForm(nil).fail(err, "confirm_password"), Data: d}, err)
		return nil
	}
	st, err := h.svc.ChangeTemporaryPassword(r.Context(), h.token(r), r.PostForm.Get("new_password"))
	if err != nil {
		field := ""
		if errs.Code(err) == errs.Invalid {
			field = "new_password"
		}
		h.renderForm(w, r, "password", &view{Title: "Choose a new password", InSignIn: true,
			Form: newForm(nil).fail(err, field), Data: d}, err)
		return nil
	}
	h.setCookie(w, st.Token)
	return h.moveOn(w, r, st)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.SignOut(r.Context(), h.token(r)); err != nil {
		return err
	}
	h.setCookie(w, "")
	redirect(w, r, "/signin?m=signedout")
	return nil
}
