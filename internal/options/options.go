// Package options is the registry of the settings administrators change at run time (SPEC §2):
// their keys, descriptions, defaults and allowed values, and a short-lived cache of the values
// stored in the database.
//
// Every server re-reads the stored values at most MaxAge after it last read them, so a change
// saved by another instance or by the command line is in effect everywhere within MaxAge
// (SPEC §2 asks for 5 seconds). A change saved through a Cache is in effect on that instance at
// once.
package options

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twofold-auth/twofold/internal/authz"
	"github.com/twofold-auth/twofold/internal/errs"
)

// Keys of the options.
const (
	InternalMFA               = "internalMFA"
	ExternalMFA               = "externalMFA"
	EnableMFABackupCodes      = "enableMFABackupCodes"
	MFABackupCodeCount        = "mfaBackupCodeCount"
	MFARotateBackupCodes      = "mfaRotateBackupCodes"
	TemporaryPasswordLifetime = "temporaryPasswordLifetime"
	MFAIssuer                 = "mfaIssuer"
	FailedSignInsPerAddress   = "failedSignInsPerAddress"
	SSOCreateAccounts         = "ssoCreateAccounts"
	AccessDefaultPolicy       = "accessDefaultPolicy"
	MFAWebAuthn               = "mfaWebAuthn"
	MFARememberDevice         = "mfaRememberDevice"
)

// MFA policies.
const (
	PolicyOff      = "off"
	PolicyRequired = "required"
	PolicyOptional = "optional"
)

// Option describes one setting.
type Option struct {
	Key         string
	Description string
	Default     string
	// Choices lists the allowed values of a choice; nil for a number, a duration or a text.
	Choices []string
	// Range says the allowed values of anything that is not a choice, as the API shows it.
	Range string
	// parse checks a value and answers it in canonical form.
	parse func(string) (string, error)
}

// Values answers the allowed values as the API shows them: a list for a choice, a text for a
// range.
func (o Option) Values() any {
	if o.Choices != nil {
		return o.Choices
	}
	return o.Range
}

var registry = []Option{
	{Key: InternalMFA, Default: PolicyRequired,
		Description: "Enable or disable MFA for users of your main application (internal accounts). Optional lets users skip set-up and register later from their profile.",
		Choices:     []string{PolicyOff, PolicyRequired, PolicyOptional}},
	{Key: ExternalMFA, Default: PolicyOptional,
		Description: "Enable or disable MFA for external accounts: portal users, hotline agents and external parties granted access to cases.",
		Choices:     []string{PolicyOff, PolicyRequired, PolicyOptional}},
	{Key: EnableMFABackupCodes, Default: "yes",
		Description: "Allow or prevent signing in with MFA backup codes. No: no codes are generated at enrolment and existing codes cannot be used or seen; yes again restores the unused codes.",
		Choices:     []string{"yes", "no"}},
	{Key: MFABackupCodeCount, Default: "5",
		Description: "How many MFA backup codes are issued at enrolment and at each regeneration.",
		Range:       "1 to 20", parse: intRange(1, 20)},
	{Key: MFARotateBackupCodes, Default: "no",
		Description: "Yes: signing in with an MFA backup code issues one new code in its place, shown once.",
		Choices:     []string{"yes", "no"}},
	{Key: TemporaryPasswordLifetime, Default: "1d",
		Description: "How long an emailed temporary password works: a number then s, m, h or d.",
		Range:       "1s to 30d", parse: lifetime},
	{Key: MFAIssuer, Default: "Twofold",
		Description: "The name that authenticator apps show beside the account (MFA issuer).",
		Range:       "text, 1 to 64 characters, without ':'", parse: issuer},
	{Key: FailedSignInsPerAddress, Default: "60",
		Description: "Password failures from one client address within the last 60 seconds before its attempts are refused (0 turns the limit off).",
		Range:       "0 to 10000", parse: intRange(0, 10000)},
	{Key: SSOCreateAccounts, Default: "no",
		Description: "Yes: a person the identity provider (SSO) signs in who has no account here gets an internal SSO account at once. No: such sign-ins are refused until an administrator creates the account.",
		Choices:     []string{"yes", "no"}},
	{Key: AccessDefaultPolicy, Default: "deny",
		Description: "What the reverse-proxy check (forward auth) answers for a request that no access rule matches: deny it, or let it through after a sign-in with one factor or two.",
		Choices:     slices.Clone(authz.DefaultPolicies)},
	{Key: MFAWebAuthn, Default: "yes",
		Description: "Allow or prevent registering and using security keys and passkeys (WebAuthn) as a second factor. No: keys are neither offered, listed nor usable but stay stored; yes again brings them back.",
		Choices:     []string{"yes", "no"}},
	{Key: MFARememberDevice, Default: "0",
		Description: "How long \"Remember this device\" lets a browser skip the second factor after a correct one: a sign-in from it with the right password then asks for none until then (never at enrolment, nor when an application or access rule asks for a second factor). 0 turns it off and stops honouring remembered devices.",
		Range:       "0 (off) or 1d to 30d", parse: rememberDevice},
}

// All answers every option, in a fixed order.
func All() []Option { return slices.Clone(registry) }

// Lookup answers the option with key.
func Lookup(key string) (Option, bool) {
	for _, o := range registry {
		if o.Key == key {
			return o, true
		}
	}
	return Option{}, false
}

// Search answers the options whose key or description contains text, without regard to case.
func Search(text string) []Option {
	text = strings.ToLower(strings.TrimSpace(text))
	var out []Option
	for _, o := range registry {
		if text == "" || strings.Contains(strings.ToLower(o.Key), text) ||
			strings.Contains(strings.ToLower(o.Description), text) {
			out = append(out, o)
		}
	}
	return out
}

// Validate checks value for key and answers it in canonical form, or an invalid_request error
// that names the allowed values.
func Validate(key, value string) (string, error) {
	o, ok := Lookup(key)
	if !ok {
		return "", errs.E(errs.NotFound, "There is no option %q.", key)
	}
	value = strings.TrimSpace(value)
	if o.Choices != nil {
		if v := strings.ToLower(value); slices.Contains(o.Choices, v) {
			return v, nil
		}
		return "", errs.E(errs.Invalid, "%s must be one of %s.", key, strings.Join(o.Choices, ", "))
	}
	v, err := o.parse(value)
	if err != nil {
		return "", errs.E(errs.Invalid, "%s must be %s: %v.", key, o.Range, err)
	}
	return v, nil
}

func intRange(lo, hi int) func(string) (string, error) {
	return func(s string) (string, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return "", fmt.Errorf("%q is not a whole number", s)
		}
		if n < lo || n > hi {
			return "", fmt.Errorf("%d is out of range", n)
		}
		return strconv.Itoa(n), nil
	}
}

// ParseLifetime reads a duration written as a number and one of s, m, h or d. A number too
// large for a duration is refused, not wrapped round into one that may be in range.
func ParseLifetime(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 12 {
		return 0, fmt.Errorf("%q is not a number followed by s, m, h or d", s)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if unit == 0 || err != nil || n < 0 || strings.ContainsAny(s[:1], "+-") {
		return 0, fmt.Errorf("%q is not a number followed by s, m, h or d", s)
	}
	if int64(n) > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("%q is too long a time", s)
	}
	return time.Duration(n) * unit, nil
}

func lifetime(s string) (string, error) {
	d, err := ParseLifetime(strings.ToLower(s))
	if err != nil {
		return "", err
	}
	if d < time.Second || d > 30*24*time.Hour {
		return "", fmt.Errorf("%s is out of range", s)
	}
	return strings.ToLower(s), nil
}

// rememberDevice checks mfaRememberDevice: 0, or a whole number of days from 1 to 30.
func rememberDevice(s string) (string, error) {
	s = strings.ToLower(s)
	if s == "0" || s == "0d" {
		return "0", nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if !strings.HasSuffix(s, "d") || err != nil || strings.ContainsAny(s[:1], "+-") {
		return "", fmt.Errorf("%q is not 0 or a number of days followed by d", s)
	}
	if n < 1 || n > 30 {
		return "", fmt.Errorf("%s is out of range", s)
	}
	return strconv.Itoa(n) + "d", nil
}

// issuer checks mfaIssuer's own rules; control characters, refused in every option value, are
// the account service's rule (account.UnsafeRune).
func issuer(s string) (string, error) {
	switch n := len([]rune(s)); {
	case n < 1 || n > 64:
		return "", fmt.Errorf("it has %d characters", n)
	case strings.Contains(s, ":"):
		return "", fmt.Errorf("it may not contain ':'")
	}
	return s, nil
}

// Values is one consistent reading of every option.
type Values struct{ m map[string]string }

// Invalid answers why each stored value that is not valid (a registry that changed, a database
// edited by hand) is refused, in the order of the keys: NewValues reads them as the default,
// and the server says so once, at start.
func Invalid(stored map[string]string) []string {
	var bad []string
	for _, o := range registry {
		if v, ok := stored[o.Key]; ok {
			if _, err := Validate(o.Key, v); err != nil {
				bad = append(bad, err.(*errs.Error).Message)
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// NewValues reads stored values over the defaults; stored values that are no longer valid (a
// registry that changed) fall back to the default (see Invalid).
func NewValues(stored map[string]string) *Values {
	m := make(map[string]string, len(registry))
	for _, o := range registry {
		m[o.Key] = o.Default
		if v, ok := stored[o.Key]; ok {
			if c, err := Validate(o.Key, v); err == nil {
				m[o.Key] = c
			}
		}
	}
	return &Values{m: m}
}

// Get answers the value of key.
func (v *Values) Get(key string) string { return v.m[key] }

// Policy answers the MFA policy for an account kind ("internal" or "external").
func (v *Values) Policy(kind string) string {
	if kind == "external" {
		return v.m[ExternalMFA]
	}
	return v.m[InternalMFA]
}

// WebAuthnEnabled reports mfaWebAuthn.
func (v *Values) WebAuthnEnabled() bool { return v.m[MFAWebAuthn] == "yes" }

// RememberDevice answers mfaRememberDevice: how long a remembered device skips the second
// factor; 0 when the option is off.
func (v *Values) RememberDevice() time.Duration {
	d, _ := ParseLifetime(v.m[MFARememberDevice])
	return d
}

// RememberDeviceDays answers mfaRememberDevice in days; 0 when the option is off.
func (v *Values) RememberDeviceDays() int { return int(v.RememberDevice() / (24 * time.Hour)) }

// BackupCodesEnabled reports enableMFABackupCodes.
func (v *Values) BackupCodesEnabled() bool { return v.m[EnableMFABackupCodes] == "yes" }

// BackupCodeCount answers mfaBackupCodeCount.
func (v *Values) BackupCodeCount() int { n, _ := strconv.Atoi(v.m[MFABackupCodeCount]); return n }

// RotateBackupCodes reports mfaRotateBackupCodes.
func (v *Values) RotateBackupCodes() bool { return v.m[MFARotateBackupCodes] == "yes" }

// TemporaryPasswordLifetime answers temporaryPasswordLifetime.
func (v *Values) TemporaryPasswordLifetime() time.Duration {
	d, _ := ParseLifetime(v.m[TemporaryPasswordLifetime])
	return d
}

// Issuer answers mfaIssuer.
func (v *Values) Issuer() string { return v.m[MFAIssuer] }

// FailedSignInsPerAddress answers failedSignInsPerAddress (0: no limit).
func (v *Values) FailedSignInsPerAddress() int {
	n, _ := strconv.Atoi(v.m[FailedSignInsPerAddress])
	return n
}

// AccessDefaultPolicy answers accessDefaultPolicy: the forward-auth policy when no access rule
// matches.
func (v *Values) AccessDefaultPolicy() string { return v.m[AccessDefaultPolicy] }

// MaxAge is how long a Cache trusts the values it read.
const MaxAge = time.Second

// Cache holds the values read last and reads them again when they are older than MaxAge.
type Cache struct {
	load func(context.Context) (map[string]string, error)
	now  func() time.Time

	mu     sync.Mutex
	cur    *Values
	readAt time.Time
}

// NewCache makes a cache that reads stored values with load.
func NewCache(load func(context.Context) (map[string]string, error), now func() time.Time) *Cache {
	return &Cache{load: load, now: now}
}

// Get answers the current values. When they cannot be read the error is returned, never stale
// values older than MaxAge: the caller refuses (fails closed).
func (c *Cache) Get(ctx context.Context) (*Values, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.cur != nil && now.Sub(c.readAt) < MaxAge && !now.Before(c.readAt) {
		return c.cur, nil
	}
	stored, err := c.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	c.cur, c.readAt = NewValues(stored), now
	return c.cur, nil
}

// Invalidate makes the next Get read the stored values.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
}
