package web

import (
	"net/http"

	"github.com/twofold-auth/twofold/internal/cookie"
)

// Remembered devices on the Security tab (SPEC §10): "Forget" and "Forget all".

func (h *Handler) forgetDevice(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	if err := h.svc.ForgetDevice(r.Context(), p, r.PostForm.Get("device")); err != nil {
		return err
	}
	redirect(w, r, "/profile/security?m=device-rm")
	return nil
}

func (h *Handler) forgetDevices(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.ForgetDevices(r.Context(), p); err != nil {
		return err
	}
	// The browser's device cookie can skip nothing now: remove it, with the cookie domain's copy
	// an earlier version left. (On a browser shared by two accounts it may be the other's,
	// which then proves its second factor once more.)
	cookie.SetDevice(w, "", 0, h.cookie)
	redirect(w, r, "/profile/security?m=devices-rm")
	return nil
}
