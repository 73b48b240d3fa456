package httpapi_test

import (
	"context"

	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/store"
)

// passwordLock answers the password failures and lock counted for a username, which the store
// keeps under the username's MAC.
func (h *harness) passwordLock(username string) store.PasswordFailures {
	h.t.Helper()
	k, err := keys.Parse(testKeyHex)
	if err != nil {
		h.t.Fatal(err)
	}
	pl, err := h.store.PasswordFailures(context.Background(), k.UsernameMAC(username), h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return pl
}
