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
	// At is the time the message names (EAt), with the message's format to say it again.
	At       time.Time
	atFormat string
	// RetryAfter asks the client to wait, for rate limits and overload.
	RetryAfter time.Duration
	// Field names the field of the request that the refusal is about ("username"), when the
	// service knows it, so that a form can show the message beside it.
	Field string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// E makes an error with a code and a formatted message.
func E(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// EAt makes an error whose message names a time: format holds one %s, which the API's
// message fills with the time in RFC 3339 and a page, through Say, with its own words.
func EAt(code string, at time.Time, format string) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, at.UTC().Format(time.RFC3339)),
		At: at, atFormat: format}
}

// About answers a copy of e that is about field.
func (e *Error) About(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// Say answers the message with its time, if it names one, said by say.
func (e *Error) Say(say func(time.Time) string) string {
	if e.atFormat == "" {
		return e.Message
	}
	return fmt.Sprintf(e.atFormat, say(e.At))
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
