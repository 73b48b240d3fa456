package errs_test

import (
	"net/http"
	"testing"

	"github.com/twofold-auth/twofold/internal/errs"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		code string
		want int
	}{
		{errs.Invalid, http.StatusBadRequest},
		{errs.InvalidCredentials, http.StatusUnauthorized},
		{errs.InvalidCode, http.StatusUnauthorized},
		{errs.NotSignedIn, http.StatusUnauthorized},
		{errs.Forbidden, http.StatusForbidden},
		{errs.SSOAccount, http.StatusForbidden},
		{errs.AccountDisabled, http.StatusForbidden},
		{errs.TemporaryExpired, http.StatusForbidden},
		{errs.NotFound, http.StatusNotFound},
		{errs.Conflict, http.StatusConflict},
		{errs.TooLarge, http.StatusRequestEntityTooLarge},
		{errs.Locked, http.StatusTooManyRequests},
		{errs.RateLimited, http.StatusTooManyRequests},
		{errs.Unavailable, http.StatusServiceUnavailable},
		{errs.Internal, http.StatusInternalServerError},
		{"no_such_code", http.StatusInternalServerError},
	} {
		if got := errs.Status(tc.code); got != tc.want {
			t.Errorf("Status(%q) = %d, want %d", tc.code, got, tc.want)
		}
	}
}
