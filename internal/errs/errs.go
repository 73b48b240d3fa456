// Package errs is Twofold's one error type: a code from the API's list and a message that is
// safe to show to the client. Services return *Error for everything a client caused; anything
// else is an internal fault and is shown only as "internal".
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Codes of the JSON API (SPEC §4).
const (
	Invalid             = "invalid_request"
	InvalidCredentials  = "invalid_credentials"
	InvalidCode         = "invalid_code"
	NotSignedIn         = "not_signed_in"
	Forbidden           = "forbidden"
	SSOAccount          = "sso_account"
	AccountDisabled     = "account_disabled"
	TemporaryExpired    = "temporary_password_expired"
	NotFound            = "not_found"
	Conflict            = "conflict"
	TooLarge            = "too_large"
	Locked              = "locked"
	RateLimited         = "rate_limited"
	Unavailable         = "unavailable"
	Internal            = "internal"
	defaultInternalText = "Something went wrong on our side. Please try again."
)

// Error is an error a client may see.
type Error struct {
	Code    string
	Message string
	// Next is the sign-in's current step, for a conflict about steps.
	Next string
	// LockedUntil is the end of a lock; Locked with a zero LockedUntil is a lock that only an
	// admin ends.
	LockedUntil time.Time
	// LockSubject names what a Locked error locks ("Your second factor"), so that a page can say
	// the lock in its own words.
	LockSubject string
	// RetryAfter asks the client to wait, for rate limits and overload.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// E makes an error with a code and a formatted message.
func E(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code answers err's code: Internal for anything that is not an *Error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As answers err as an *Error; anything else becomes an internal error with a generic message.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: defaultInternalText}
}
