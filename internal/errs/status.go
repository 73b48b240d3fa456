package errs

import (
	"net/http"
	"strconv"
	"time"
)

// statuses maps each code to its HTTP status (SPEC §4), for every front end that speaks HTTP:
// the JSON API and the pages answer the same status for the same error.
var statuses = map[string]int{
	Invalid:            http.StatusBadRequest,
	InvalidCredentials: http.StatusUnauthorized,
	InvalidCode:        http.StatusUnauthorized,
	NotSignedIn:        http.StatusUnauthorized,
	Forbidden:          http.StatusForbidden,
	SSOAccount:         http.StatusForbidden,
	AccountDisabled:    http.StatusForbidden,
	TemporaryExpired:   http.StatusForbidden,
	NotFound:           http.StatusNotFound,
	Conflict:           http.StatusConflict,
	TooLarge:           http.StatusRequestEntityTooLarge,
	Locked:             http.StatusTooManyRequests,
	RateLimited:        http.StatusTooManyRequests,
	Unavailable:        http.StatusServiceUnavailable,
	Internal:           http.StatusInternalServerError,
}

// Status answers the HTTP status of an error code; 500 for a code it does not know.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// SetRetryAfter sets the Retry-After header of the answer to e, in whole seconds rounded up:
// until its lock ends, by now (the service's clock, the one that set the lock, so that the
// header and locked_until agree), or else its RetryAfter. It sets nothing when there is no
// wait; now is called only for a lock with an end.
func SetRetryAfter(h http.Header, e *Error, now func() time.Time) {
	retry := e.RetryAfter
	if !e.LockedUntil.IsZero() {
		retry = e.LockedUntil.Sub(now())
	}
	if retry > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	}
}
