package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
)

// Security keys (SPEC §9). Every begin answers {"publicKey": OPTIONS} as navigator.credentials
// takes them (binary fields base64url); every finish takes the credential as the browser
// returns it, the whole body.

// credential reads a finish's body: one JSON object, passed whole to the service.
func credential(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var raw json.RawMessage
	if err := decode(w, r, &raw, false); err != nil {
		return nil, err
	}
	return raw, nil
}

func (a *API) keySignInBegin(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	opts, err := a.svc.BeginKeySignIn(r.Context(), a.token(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, opts)
}

func (a *API) keySignInFinish(w http.ResponseWriter, r *http.Request) error {
	cred, err := credential(w, r)
	if err != nil {
		return err
	}
	// "remember_device": true beside the credential's own fields (SPEC §10).
	var dev struct {
		RememberDevice bool `json:"remember_device"`
	}
	_ = json.Unmarshal(cred, &dev) // credential checked that it is JSON; the key's check refuses anything else
	st, err := a.svc.FinishKeySignIn(r.Context(), a.token(r), cred,
		account.DeviceRequest{Remember: dev.RememberDevice, UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	return a.answerStep(w, st, false)
}

func (a *API) keyEnrollBegin(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	opts, err := a.svc.BeginKeyEnroll(r.Context(), a.token(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, opts)
}

func (a *API) keyEnrollFinish(w http.ResponseWriter, r *http.Request) error {
	cred, err := credential(w, r)
	if err != nil {
		return err
	}
	st, err := a.svc.FinishKeyEnroll(r.Context(), a.token(r), cred)
	if err != nil {
		return err
	}
	return a.answerStep(w, st, true)
}

// keyAnswer is one key as GET /me/webauthn lists it.
type keyAnswer struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Disabled   bool       `json:"disabled"`
}

func keyOf(k account.SecurityKey) keyAnswer {
	out := keyAnswer{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt.UTC(), Disabled: k.Disabled}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

func (a *API) keys(w http.ResponseWriter, r *http.Request) error {
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	keys, err := a.svc.SecurityKeys(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]keyAnswer, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyOf(k))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (a *API) keyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name            string `json:"name"`
		CurrentPassword string `json:"current_password"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	opts, err := a.svc.BeginKeyRegister(r.Context(), p, in.Name, in.CurrentPassword, a.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, opts)
}

func (a *API) keyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	cred, err := credential(w, r)
	if err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	k, err := a.svc.FinishKeyRegister(r.Context(), p, cred)
	if err != nil {
		return err
	}
	out := map[string]any{"key": keyOf(k.SecurityKey)}
	if k.BackupCodes != nil { // the account's first second factor: an enrolment
		out["backup_codes"] = k.BackupCodes
	}
	return writeJSON(w, http.StatusOK, out)
}

// keyProofBegin begins proving the signed-in account's second factor with one of its usable
// keys: for regenerating backup codes (POST /me/mfa/backup-codes/webauthn/begin) or removing a
// key (POST /me/webauthn/remove/begin). Both begin the same challenge of the session.
func (a *API) keyProofBegin(w http.ResponseWriter, r *http.Request) error {
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	opts, err := a.svc.BeginKeyProof(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, opts)
}

// regenerateWithKey is POST /me/mfa/backup-codes with a key's assertion instead of a code.
func (a *API) regenerateWithKey(w http.ResponseWriter, r *http.Request) error {
	cred, err := credential(w, r)
	if err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	c, err := a.svc.RegenerateBackupCodesWithKey(r.Context(), p, cred)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, codes(c))
}

// keyRemove removes a key after a second factor: code, backup_code, or credential (a key's
// assertion, begun by POST /me/webauthn/remove/begin).
func (a *API) keyRemove(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code       string          `json:"code"`
		BackupCode string          `json:"backup_code"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	var cred []byte
	if len(in.Credential) > 0 && string(in.Credential) != "null" {
		cred = in.Credential
	}
	if err := a.svc.RemoveSecurityKey(r.Context(), p, r.PathValue("id"), in.Code, in.BackupCode, cred); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
