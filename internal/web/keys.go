package web

import (
	"context"
	"net/http"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
)

// SecurityKeys is what the pages ask of security keys and passkeys (SPEC §9). The ceremony's
// first half is the JSON API's begin, asked by static/webauthn.js; the browser's credential then
// comes back in a form post to a page, which finishes it here and answers as the code's page
// does: the next step (an application's return target included), the backup codes after
// enrolment, a refusal in the page's alert. Every rule (whether a key is offered, the check, the
// count, the lock) is the service's.
type SecurityKeys interface {
	// Offered answers whether the sign-in of token is offered a security key at its current
	// step: to sign in with one at Verification Required (mfaWebAuthn yes, a usable key, a
	// relying party id that is a domain name or localhost) or to register one at enrolment.
	Offered(ctx context.Context, token string) (bool, error)
	// CanRegister answers whether the account of p may register a security key now.
	CanRegister(ctx context.Context, p *account.Principal) (bool, error)
	// FinishSignIn checks the assertion credential (JSON, as the browser returns it) against
	// the sign-in's challenge, as POST /signin/mfa/webauthn/finish does.
	FinishSignIn(ctx context.Context, token string, credential []byte, dev account.DeviceRequest) (account.Step, error)
	// FinishEnroll registers the sign-in's first key, as POST
	// /signin/mfa/enroll/webauthn/finish does, with the backup codes in the step.
	FinishEnroll(ctx context.Context, token string, credential []byte) (account.Step, error)
	// FinishRegister registers one more key of p under the name given to begin; when it is
	// the account's first second factor, that is its enrolment and the answer holds the backup
	// codes issued (none when they are disabled).
	FinishRegister(ctx context.Context, p *account.Principal, credential []byte) (backupCodes []string, err error)
	// Keys lists p's keys; nil while they are neither listed nor usable (mfaWebAuthn no).
	Keys(ctx context.Context, p *account.Principal) ([]SecurityKey, error)
	// RemoveKey removes a key of p after a second factor: a code, a backup code, or the
	// assertion credential of one of its usable keys (begun by POST
	// /api/v1/me/webauthn/remove/begin).
	RemoveKey(ctx context.Context, p *account.Principal, id, code, backupCode string, credential []byte) error
	// Regenerate replaces p's backup codes after the assertion credential of one of its
	// usable keys (begun by POST /api/v1/me/mfa/backup-codes/webauthn/begin).
	Regenerate(ctx context.Context, p *account.Principal, credential []byte) ([]string, error)
}

// SecurityKey is one key as the Security tab lists it.
type SecurityKey struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	// Disabled: its signature counter went backwards (a possible clone); it can only be removed.
	Disabled bool
}

// keyData is what the key parts of a page show.
type keyData struct {
	// Offered shows the key's button (hidden until webauthn.js finds the browser able).
	Offered bool
	// Begin is the JSON API's begin endpoint that webauthn.js asks; Finish the page's form.
	Begin, Finish string
}

var (
	keySignIn = keyData{Begin: "/api/v1/signin/mfa/webauthn/begin", Finish: "/signin/verify/key"}
	keyEnroll = keyData{Begin: "/api/v1/signin/mfa/enroll/webauthn/begin", Finish: "/signin/enroll/key"}
)

// keysOffered answers the key part of a sign-in page: offered or not (never without SecurityKeys).
func (h *Handler) keysOffered(r *http.Request, base keyData) (keyData, error) {
	if h.keys == nil {
		return keyData{}, nil
	}
	ok, err := h.keys.Offered(r.Context(), h.token(r))
	base.Offered = ok
	return base, err
}

// credential is the browser's credential that webauthn.js put in the form; a form without one
// is malformed, as an empty code is.
func credential(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := parseForm(w, r); err != nil {
		return nil, err
	}
	c := r.PostForm.Get("credential")
	if c == "" {
		return nil, errs.E(errs.Invalid, "No security key answered. Please try again.")
	}
	return []byte(c), nil
}

// verifyKey finishes a sign-in with a security key (Verification Required).
func (h *Handler) verifyKey(w http.ResponseWriter, r *http.Request) error {
	if h.keys == nil {
		return errs.E(errs.NotFound, "There is no page at this address.")
	}
	c, err := credential(w, r)
	var st account.Step
	if err == nil {
		// The box "Remember this device" sits in the code's form; the script copies it here.
		st, err = h.keys.FinishSignIn(r.Context(), h.token(r), c, deviceRequest(r))
	}
	return h.verified(w, r, st, err, "")
}

// enrollKey finishes enrolment with a security key instead of the QR code; the backup codes
// are shown as after a code.
func (h *Handler) enrollKey(w http.ResponseWriter, r *http.Request) error {
	if h.keys == nil {
		return errs.E(errs.NotFound, "There is no page at this address.")
	}
	c, err := credential(w, r)
	var st account.Step
	if err == nil {
		st, err = h.keys.FinishEnroll(r.Context(), h.token(r), c)
	}
	if errs.Code(err) == errs.Locked {
		h.locked(w, r, err)
		return nil
	}
	if err != nil {
		if h.redirectFor(w, r, err) {
			return nil
		}
		return h.renderEnroll(w, r, newForm(nil).fail(err, ""), err)
	}
	return h.enrolled(w, r, st)
}

// addKey finishes registering a key from the Security tab.
func (h *Handler) addKey(w http.ResponseWriter, r *http.Request) error {
	if h.keys == nil {
		return errs.E(errs.NotFound, "There is no page at this address.")
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	c, err := credential(w, r)
	var codes []string
	if err == nil {
		codes, err = h.keys.FinishRegister(r.Context(), p, c)
	}
	if err != nil {
		return h.securityError(w, r, p, newForm(nil).fail(err, ""), false, err)
	}
	if len(codes) > 0 { // the account's first second factor: its backup codes, shown once
		return h.renderCodes(w, r, navOf(p, "profile"), codesData{Title: "Backup Codes", Codes: codes,
			Next: withNotice("/profile/security", "key-added"), Account: p.Actor().Name,
			Intro: "Your security key is set up. If you cannot use it, sign in with one of these backup codes instead. " +
				"Each code works once."})
	}
	redirect(w, r, "/profile/security?m=key-added")
	return nil
}

// removeKey removes the key chosen in the Security tab after a code or a backup code.
func (h *Handler) removeKey(w http.ResponseWriter, r *http.Request) error {
	if h.keys == nil {
		return errs.E(errs.NotFound, "There is no page at this address.")
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	// The tab's Regenerate dialog has its own "code": these fields have names of their own.
	id, code, backup := r.PostForm.Get("key"), r.PostForm.Get("key_code"), r.PostForm.Get("key_backup_code")
	// "Use your security key" sends the key's answer in "credential" (webauthn.js), the
	// code fields left out.
	var cred []byte
	if c := r.PostForm.Get("credential"); c != "" {
		cred, code, backup = []byte(c), "", ""
	}
	if err := h.keys.RemoveKey(r.Context(), p, id, code, backup, cred); err != nil {
		f := newForm(nil)
		f.Values.Set("key", id)
		switch errs.Code(err) {
		case errs.Invalid, errs.InvalidCode:
			if cred != nil {
				f.fail(err, "")
			} else if backup != "" && code == "" {
				f.fail(err, "key_backup_code")
			} else {
				f.fail(err, "key_code")
			}
		default:
			f.fail(err, "")
		}
		return h.securityError(w, r, p, f, false, err)
	}
	redirect(w, r, "/profile/security?m=key-rm")
	return nil
}

// regenerateKey regenerates the backup codes with a security key instead of a code ("Use your
// security key" in the Regenerate dialog); a refusal opens the dialog again with it.
func (h *Handler) regenerateKey(w http.ResponseWriter, r *http.Request) error {
	if h.keys == nil {
		return errs.E(errs.NotFound, "There is no page at this address.")
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	c, err := credential(w, r)
	var codes []string
	if err == nil {
		codes, err = h.keys.Regenerate(r.Context(), p, c)
	}
	if err != nil {
		return h.securityError(w, r, p, newForm(nil).fail(err, ""), true, err)
	}
	return h.renderNewCodes(w, r, p, codes)
}

// securityKeys answers the Security tab's keys part for p.
func (h *Handler) securityKeys(r *http.Request, p *account.Principal) (keysData, error) {
	if h.keys == nil {
		return keysData{}, nil
	}
	can, err := h.keys.CanRegister(r.Context(), p)
	if err != nil {
		return keysData{}, err
	}
	list, err := h.keys.Keys(r.Context(), p)
	if err != nil {
		return keysData{}, err
	}
	d := keysData{Shown: can || len(list) > 0, CanAdd: can, List: list}
	for _, k := range list {
		d.Prove = d.Prove || !k.Disabled
	}
	return d, nil
}

// keysData is the Security tab's "Security keys" section.
type keysData struct {
	Shown  bool
	CanAdd bool
	List   []SecurityKey
	// Prove offers "Use your security key" to regenerate backup codes or remove a key: the
	// account holds a usable key (the list is empty while keys are off).
	Prove bool
}

// ServiceKeys answers the SecurityKeys of the account service, as serve wires the pages.
func ServiceKeys(s *account.Service) SecurityKeys { return serviceKeys{s} }

type serviceKeys struct{ s *account.Service }

var _ SecurityKeys = serviceKeys{}

func (k serviceKeys) Offered(ctx context.Context, token string) (bool, error) {
	return k.s.KeyOffered(ctx, token)
}

// CanRegister: keys can be used here, and the account has a password to confirm the key with.
func (k serviceKeys) CanRegister(ctx context.Context, p *account.Principal) (bool, error) {
	ok, err := k.s.KeysOffered(ctx)
	if err != nil || !ok {
		return false, err
	}
	m, err := k.s.Me(ctx, p)
	if err != nil {
		return false, err
	}
	return m.Source == "local", nil
}

func (k serviceKeys) FinishSignIn(ctx context.Context, token string, credential []byte, dev account.DeviceRequest) (account.Step, error) {
	return k.s.FinishKeySignIn(ctx, token, credential, dev)
}

func (k serviceKeys) FinishEnroll(ctx context.Context, token string, credential []byte) (account.Step, error) {
	return k.s.FinishKeyEnroll(ctx, token, credential)
}

func (k serviceKeys) FinishRegister(ctx context.Context, p *account.Principal, credential []byte) ([]string, error) {
	key, err := k.s.FinishKeyRegister(ctx, p, credential)
	if err != nil {
		return nil, err
	}
	return key.BackupCodes, nil
}

// Keys: none while keys are turned off (the service refuses to list them then).
func (k serviceKeys) Keys(ctx context.Context, p *account.Principal) ([]SecurityKey, error) {
	list, err := k.s.SecurityKeys(ctx, p)
	if errs.Code(err) == errs.Forbidden {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]SecurityKey, 0, len(list))
	for _, v := range list {
		key := SecurityKey{ID: v.ID, Name: v.Name, CreatedAt: v.CreatedAt, Disabled: v.Disabled}
		if !v.LastUsedAt.IsZero() {
			used := v.LastUsedAt
			key.LastUsedAt = &used
		}
		out = append(out, key)
	}
	return out, nil
}

func (k serviceKeys) RemoveKey(ctx context.Context, p *account.Principal, id, code, backupCode string, credential []byte) error {
	return k.s.RemoveSecurityKey(ctx, p, id, code, backupCode, credential)
}

func (k serviceKeys) Regenerate(ctx context.Context, p *account.Principal, credential []byte) ([]string, error) {
	return k.s.RegenerateBackupCodesWithKey(ctx, p, credential)
}
