package account

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// Remembered devices (SPEC §10): after a correct second factor with "Remember this device"
// ticked, the browser gets a device cookie (256 random bits, kept only as a hash); a later
// sign-in from it with the right password skips the second factor that the policy asks for
// until the cookie expires. It never skips enrolment, and never an application's demand for a
// second factor (the session's MFARequired): such a session's amr is ["pwd"].

// Audit actions of remembered devices.
const (
	ActionDeviceRemembered = "device.remembered"
	ActionDeviceForgotten  = "device.forgotten"
)

// maxDeviceLabel bounds a device's label, in characters.
const maxDeviceLabel = 120

// DeviceRequest is what a second-factor step needs to remember the browser: whether
// "Remember this device" was ticked, and the browser's user agent for the device's label.
type DeviceRequest struct {
	Remember  bool
	UserAgent string
}

// Device is a remembered device as the account's owner sees it.
type Device struct {
	ID         string
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until a sign-in used it
	ExpiresAt  time.Time
}

// deviceLabel names a browser from its user agent: unsafe characters (UnsafeRune) and invalid
// UTF-8 dropped, spaces collapsed, at most maxDeviceLabel characters.
func deviceLabel(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	ua = strings.Map(func(r rune) rune {
		if UnsafeRune(r) {
			return ' '
		}
		return r
	}, ua)
	ua = strings.Join(strings.Fields(ua), " ")
	if utf8.RuneCountInString(ua) > maxDeviceLabel {
		ua = string([]rune(ua)[:maxDeviceLabel-1]) + "…"
	}
	return ua
}

// deviceSkips is the one rule of a remembered device (SPEC §10): the sign-in's password step
// came from a remembered device of the account, the option is on, and the account holds a
// second factor it may use (otherwise it enrols). nextStep applies it to the policy's second
// factor only, never to an application's demand for one.
func deviceSkips(u *store.User, sess *store.Session, o *options.Values) bool {
	return sess.DeviceRemembered && o.RememberDevice() > 0 && hasSecondFactor(u, o)
}

// deviceExpiry is when d stops skipping the second factor: its own expiry, or sooner when the
// option's current length life, counted from when it was remembered, is shorter (the option
// shortened since, or 0: off).
func deviceExpiry(d *store.RememberedDevice, life time.Duration) time.Time {
	if end := d.CreatedAt.Add(life); end.Before(d.ExpiresAt) {
		return end
	}
	return d.ExpiresAt
}

// rememberedDevice answers the remembered device of the cookie token when it belongs to the
// account, the option is on and it has not expired (deviceExpiry); nil otherwise.
func (s *Service) rememberedDevice(ctx context.Context, q store.Queries, u *store.User, o *options.Values, token string) (*store.RememberedDevice, error) {
	life := o.RememberDevice()
	if life <= 0 || !validToken(token) {
		return nil, nil
	}
	d, err := q.RememberedDevice(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.UserID != u.ID || !s.now().Before(deviceExpiry(d, life)) {
		return nil, nil
	}
	return d, nil
}

// rememberDevice stores a new remembered device of the account inside the transaction of a
// passed second factor when dev asks for it and the option is on, and sets the step's device
// cookie and its lifetime.
func (s *Service) rememberDevice(ctx context.Context, q store.Queries, u *store.User, o *options.Values, dev DeviceRequest, step *Step) error {
	life := rememberLife(u, o)
	if !dev.Remember || life <= 0 {
		return nil
	}
	token, hash, err := s.newToken()
	if err != nil {
		return err
	}
	now := s.now()
	d := &store.RememberedDevice{UserID: u.ID, TokenHash: hash, Label: deviceLabel(dev.UserAgent),
		CreatedAt: now, ExpiresAt: now.Add(life)}
	if err := q.AddRememberedDevice(ctx, d, now); err != nil {
		return err
	}
	step.DeviceToken, step.DeviceMaxAge = token, life
	return s.audit(ctx, q, u.Username, u.Username, ActionDeviceRemembered,
		fmt.Sprintf("device %d (%s) for %d days", d.ID, d.Label, o.RememberDeviceDays()))
}

// rememberLife is how long "Remember this device" lasts for a second factor u proves in a
// sign-in: the option mfaRememberDevice, 0 while it is off. It is 0 too while u's password is
// temporary: that sign-in goes on to choose a new password, which forgets every device (SPEC
// §10), the one just remembered with them, so no device is remembered there.
func rememberLife(u *store.User, o *options.Values) time.Duration {
	if u.PasswordTemporary {
		return 0
	}
	return o.RememberDevice()
}

// RememberDeviceDays answers how many days "Remember this device" lasts for the sign-in of
// token at Verification Required (rememberLife); 0, when the page offers no box, also when
// the sign-in is not at that step.
func (s *Service) RememberDeviceDays(ctx context.Context, token string) (int, error) {
	si, err := s.load(ctx, token, StepVerify)
	if c := errs.Code(err); c == errs.NotSignedIn || c == errs.Conflict {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int(rememberLife(si.user, si.opts) / (24 * time.Hour)), nil
}

// Devices lists p's remembered devices that have not expired (deviceExpiry, the expiry they
// show), oldest first: those a sign-in would honour now.
func (s *Service) Devices(ctx context.Context, p *Principal) ([]Device, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := s.store.RememberedDevices(ctx, p.user.ID)
	if err != nil {
		return nil, err
	}
	now, life := s.now(), o.RememberDevice()
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		if end := deviceExpiry(d, life); now.Before(end) {
			out = append(out, Device{ID: strconv.FormatInt(d.ID, 10), Label: d.Label,
				CreatedAt: d.CreatedAt, LastUsedAt: d.LastUsedAt, ExpiresAt: end})
		}
	}
	return out, nil
}

var errNoDevice = errs.E(errs.NotFound, "There is no such remembered device.")

// ForgetDevice forgets p's remembered device id: the next sign-in from it asks for the second
// factor again.
func (s *Service) ForgetDevice(ctx context.Context, p *Principal, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return errNoDevice
	}
	return s.store.Update(ctx, func(q store.Queries) error {
		if err := q.DeleteRememberedDevice(ctx, p.user.ID, n); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNoDevice
			}
			return err
		}
		return s.audit(ctx, q, p.user.Username, p.user.Username, ActionDeviceForgotten, "device "+id)
	})
}

// ForgetDevices forgets every remembered device of p and answers how many there were.
func (s *Service) ForgetDevices(ctx context.Context, p *Principal) (int, error) {
	var n int
	err := s.store.Update(ctx, func(q store.Queries) error {
		var err error
		if n, err = q.DeleteRememberedDevices(ctx, p.user.ID); err != nil {
			return err
		}
		return s.audit(ctx, q, p.user.Username, p.user.Username, ActionDeviceForgotten, fmt.Sprintf("all devices (%d)", n))
	})
	return n, err
}
