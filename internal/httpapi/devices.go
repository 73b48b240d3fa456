package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
)

// Remembered devices (SPEC §10): GET /me/devices, DELETE /me/devices/{id}, DELETE /me/devices.

// deviceAnswer is one device as GET /me/devices lists it.
type deviceAnswer struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
}

func deviceOf(d account.Device) deviceAnswer {
	out := deviceAnswer{ID: d.ID, Label: d.Label, CreatedAt: d.CreatedAt.UTC(), ExpiresAt: d.ExpiresAt.UTC()}
	if !d.LastUsedAt.IsZero() {
		t := d.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

func (a *API) devices(w http.ResponseWriter, r *http.Request) error {
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	ds, err := a.svc.Devices(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]deviceAnswer, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceOf(d))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (a *API) forgetDevice(w http.ResponseWriter, r *http.Request) error {
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	if err := a.svc.ForgetDevice(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) forgetDevices(w http.ResponseWriter, r *http.Request) error {
	p, err := a.principal(r)
	if err != nil {
		return err
	}
	if _, err := a.svc.ForgetDevices(r.Context(), p); err != nil {
		return err
	}
	// The client's device cookie can skip nothing now: remove it, with the cookie domain's copy
	// an earlier version left. (On a client shared by two accounts it may be the other's,
	// which then proves its second factor once more.)
	a.setDeviceCookie(w, "", 0)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
