package errs

import "net/http"

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
