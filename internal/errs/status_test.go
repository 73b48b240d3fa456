package errs_test

import (
	"net/http"
	"testing"
	"time"

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

func TestSetRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 22, 25, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name string
		e    *errs.Error
		want string
	}{
		{"a lock, by the given clock", &errs.Error{Code: errs.Locked, LockedUntil: now.Add(15 * time.Minute)}, "900"},
		{"a part second rounds up", &errs.Error{Code: errs.Locked, LockedUntil: now.Add(1500 * time.Millisecond)}, "2"},
		{"a lock that ended", &errs.Error{Code: errs.Locked, LockedUntil: now.Add(-time.Second)}, ""},
		{"a lock only an admin ends", &errs.Error{Code: errs.Locked}, ""},
		{"overload", &errs.Error{Code: errs.Unavailable, RetryAfter: time.Second}, "1"},
		{"no wait", &errs.Error{Code: errs.Invalid}, ""},
	} {
		h := http.Header{}
		errs.SetRetryAfter(h, tc.e, clock)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("%s: Retry-After %q, want %q", tc.name, got, tc.want)
		}
	}
}
