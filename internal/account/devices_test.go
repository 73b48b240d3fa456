package account_test

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

const testUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// remember signs u in with a fresh code and "Remember this device" ticked, and answers the
// device cookie.
func (h *harness) remember(u *testUser) string {
	h.t.Helper()
	h.clock.Advance(30 * time.Second)
	tok := h.mustSignIn(u, account.StepVerify)
	st, err := h.svc.VerifyDevice(h.ctx, tok, h.codeAt(u.Key, 0), "", account.DeviceRequest{Remember: true, UserAgent: testUA})
	if err != nil || st.Next != account.StepDone || st.DeviceToken == "" {
		h.t.Fatalf("VerifyDevice = %+v, %v; want done with a device token", st, err)
	}
	return st.DeviceToken
}

// signInOn is the password step from a browser that holds the device cookie dev.
func (h *harness) signInOn(u *testUser, pw, dev string, requireMFA bool) (account.Step, error) {
	return h.svc.SignIn(h.ctx, account.SignInRequest{Username: u.Name, Password: pw, Addr: "192.0.2.1",
		DeviceToken: dev, RequireMFA: requireMFA})
}

// nextOn signs u in from the browser with dev and answers the next step.
func (h *harness) nextOn(u *testUser, dev string) string {
	h.t.Helper()
	st, err := h.signInOn(u, u.Password, dev, false)
	if err != nil {
		h.t.Fatalf("SignIn with a device: %v", err)
	}
	return st.Next
}

func TestRememberedDeviceSkipsTheSecondFactorUntilItExpires(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "7d")
	u := h.enrolledUser("alice")

	// Without the box ticked, no device.
	tok := h.mustSignIn(u, account.StepVerify)
	st, err := h.svc.VerifyDevice(h.ctx, tok, h.codeAt(u.Key, 0), "", account.DeviceRequest{UserAgent: testUA})
	if err != nil || st.DeviceToken != "" {
		t.Fatalf("VerifyDevice without remembering = %+v, %v", st, err)
	}

	dev := h.remember(u)
	if got := h.events("alice", account.ActionDeviceRemembered); len(got) != 1 {
		t.Fatalf("%d %s events, want 1", len(got), account.ActionDeviceRemembered)
	}
	h.clock.Advance(time.Hour)
	st, err = h.signInOn(u, u.Password, dev, false)
	if err != nil || st.Next != account.StepDone {
		t.Fatalf("SignIn from the remembered device = %+v, %v; want done", st, err)
	}
	si, err := h.svc.SignedIn(h.ctx, st.Token)
	if err != nil || !slices.Equal(si.AMR, []string{"pwd"}) {
		t.Fatalf("a remembered sign-in's amr = %v (%v), want [pwd]", si.AMR, err)
	}
	if ev := h.events("alice", "signin"); len(ev) == 0 || ev[0].Detail != "password on a remembered device" {
		t.Fatalf("signin event = %+v", ev)
	}
	p := h.principal(st.Token)
	ds, err := h.svc.Devices(h.ctx, p)
	if err != nil || len(ds) != 1 || ds[0].Label != testUA || !ds[0].LastUsedAt.Equal(h.clock.Now()) ||
		!ds[0].ExpiresAt.Equal(ds[0].CreatedAt.Add(7*24*time.Hour)) {
		t.Fatalf("Devices = %+v, %v", ds, err)
	}

	// A wrong password from the device is refused as any other: the cookie alone gives nothing.
	_, err = h.signInOn(u, "not the password", dev, false)
	wantCode(t, err, errs.InvalidCredentials)

	// Until it expires.
	h.clock.Advance(7*24*time.Hour - 2*time.Hour)
	if next := h.nextOn(u, dev); next != account.StepDone {
		t.Fatalf("an hour before expiry: next %q, want done", next)
	}
	h.clock.Advance(2 * time.Hour)
	if next := h.nextOn(u, dev); next != account.StepVerify {
		t.Fatalf("after expiry: next %q, want verify", next)
	}
	if ds, _ := h.svc.Devices(h.ctx, p); len(ds) != 0 {
		t.Fatalf("an expired device is listed: %+v", ds)
	}
}

func TestRememberedDeviceNeverMeetsADemandForASecondFactor(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	u := h.enrolledUser("alice")
	dev := h.remember(u)

	// --require-mfa, acr_values=mfa, a two_factor rule: the sign-in's MFARequired.
	st, err := h.signInOn(u, u.Password, dev, true)
	if err != nil || st.Next != account.StepVerify {
		t.Fatalf("SignIn demanding a second factor from a remembered device = %+v, %v; want verify", st, err)
	}
	// A step-up of a remembered session asks for the code.
	st, err = h.signInOn(u, u.Password, dev, false)
	if err != nil || st.Next != account.StepDone {
		t.Fatalf("SignIn = %+v, %v", st, err)
	}
	up, err := h.svc.StepUp(h.ctx, st.Token, "/oidc/continue?id=x")
	if err != nil || up.Next != account.StepVerify {
		t.Fatalf("StepUp of a remembered session = %+v, %v; want verify", up, err)
	}
	h.clock.Advance(30 * time.Second)
	done, err := h.svc.Verify(h.ctx, up.Token, h.codeAt(u.Key, 0), "")
	if err != nil || done.Next != account.StepDone {
		t.Fatalf("Verify after StepUp = %+v, %v", done, err)
	}
	if si, _ := h.svc.SignedIn(h.ctx, done.Token); !account.HasSecondFactor(si.AMR) {
		t.Fatalf("amr after the step-up = %v", si.AMR)
	}
}

func TestRememberedDeviceNeverSkipsEnrolment(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	u := h.enrolledUser("alice")
	dev := h.remember(u)
	// The account loses its second factor without its devices being forgotten (as when the
	// only one it has can no longer be used): it enrols, whatever the device.
	su := h.storeUser("alice")
	su.TOTPKey, su.TOTPKeyVersion = nil, 0
	if err := h.db.UpdateUser(h.ctx, su); err != nil {
		t.Fatal(err)
	}
	if next := h.nextOn(u, dev); next != account.StepEnroll {
		t.Fatalf("next %q, want enroll", next)
	}
}

func TestRememberedDeviceIsTheAccountsOwn(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	alice, bob := h.enrolledUser("alice"), h.enrolledUser("bob")
	dev := h.remember(alice)
	if next := h.nextOn(bob, dev); next != account.StepVerify {
		t.Fatalf("bob with alice's device: next %q, want verify", next)
	}
	for _, junk := range []string{"", "short", strings.Repeat("A", 43), dev[:42] + "!"} {
		if next := h.nextOn(alice, junk); next != account.StepVerify {
			t.Fatalf("device cookie %q: next %q, want verify", junk, next)
		}
	}

	// Only the hash is stored.
	db := h.rawDB()
	sum := sha256.Sum256([]byte(dev))
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM remembered_devices WHERE token_hash = ?`, sum[:]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows with the token's hash: %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM remembered_devices WHERE token_hash = ? OR CAST(token_hash AS TEXT) = ? OR label LIKE ?`,
		[]byte(dev), dev, "%"+dev+"%").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows holding the token itself: %d, %v", n, err)
	}
}

func TestRememberedDeviceForgotten(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	admin := account.Actor{Name: "boss", Admin: true}
	tests := []struct {
		name   string
		forget func(u *testUser)
	}{
		{"MFA reset", func(u *testUser) {
			if _, err := h.svc.ResetMFA(h.ctx, admin, u.Name, false); err != nil {
				t.Fatal(err)
			}
		}},
		{"password change", func(u *testUser) {
			if _, err := h.svc.ChangePassword(h.ctx, h.principal(h.session(u)), u.Password, "another fine passphrase", "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			u.Password = "another fine passphrase"
		}},
		{"disabling", func(u *testUser) {
			for _, d := range []bool{true, false} {
				if _, err := h.svc.SetDisabled(h.ctx, admin, u.Name, d); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"Forget", func(u *testUser) {
			p := h.principal(h.session(u))
			ds, err := h.svc.Devices(h.ctx, p)
			if err != nil || len(ds) != 2 {
				t.Fatalf("Devices = %+v, %v", ds, err)
			}
			err = h.svc.ForgetDevice(h.ctx, p, "999999")
			wantCode(t, err, errs.NotFound)
			for _, d := range ds {
				if err := h.svc.ForgetDevice(h.ctx, p, d.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"Forget all", func(u *testUser) {
			if n, err := h.svc.ForgetDevices(h.ctx, h.principal(h.session(u))); err != nil || n != 2 {
				t.Fatalf("ForgetDevices = %d, %v", n, err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := h.enrolledUser("user" + string(rune('a'+i)))
			devs := []string{h.remember(u), h.remember(u)}
			tc.forget(u)
			if tc.name == "MFA reset" {
				if next := h.nextOn(u, devs[0]); next != account.StepEnroll {
					t.Fatalf("next %q, want enroll", next)
				}
				if n, _ := h.db.RememberedDevices(h.ctx, u.ID); len(n) != 0 {
					t.Fatalf("%d devices kept", len(n))
				}
				return
			}
			for _, d := range devs {
				if next := h.nextOn(u, d); next != account.StepVerify {
					t.Fatalf("after %s: next %q, want verify", tc.name, next)
				}
			}
			if tc.name == "Forget" || tc.name == "Forget all" {
				if ev := h.events(u.Name, account.ActionDeviceForgotten); len(ev) == 0 {
					t.Fatal("no audit event of forgetting")
				}
			}
		})
	}
}

func TestRememberedDeviceOptionOff(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "30d")
	u := h.enrolledUser("alice")
	dev := h.remember(u)
	p := h.principal(h.session(u))
	// The devices listed are those a sign-in honours now, until when it honours them.
	listed := func() []account.Device {
		t.Helper()
		ds, err := h.svc.Devices(h.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	h.setOption(options.MFARememberDevice, "0")
	if next := h.nextOn(u, dev); next != account.StepVerify {
		t.Fatalf("option 0: next %q, want verify", next)
	}
	if ds := listed(); len(ds) != 0 {
		t.Fatalf("option 0: Devices = %+v, want none", ds)
	}
	// Nor is a device remembered while it is off.
	h.clock.Advance(30 * time.Second)
	tok := h.mustSignIn(u, account.StepVerify)
	st, err := h.svc.VerifyDevice(h.ctx, tok, h.codeAt(u.Key, 0), "", account.DeviceRequest{Remember: true})
	if err != nil || st.DeviceToken != "" {
		t.Fatalf("VerifyDevice with the option off = %+v, %v", st, err)
	}
	// A shorter option shortens the devices remembered before.
	h.setOption(options.MFARememberDevice, "1d")
	if ds := listed(); len(ds) != 1 || !ds[0].ExpiresAt.Equal(ds[0].CreatedAt.Add(24*time.Hour)) {
		t.Fatalf("option 1d: Devices = %+v, want the device until a day after it was remembered", ds)
	}
	h.clock.Advance(2 * 24 * time.Hour)
	if next := h.nextOn(u, dev); next != account.StepVerify {
		t.Fatalf("a device older than the option: next %q, want verify", next)
	}
	if ds := listed(); len(ds) != 0 {
		t.Fatalf("a device older than the option is listed: %+v", ds)
	}
}

func TestRememberedDeviceLabel(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "1d")
	u := h.enrolledUser("alice")
	h.clock.Advance(30 * time.Second)
	tok := h.mustSignIn(u, account.StepVerify)
	ua := "Evil\x1b[31m\u202Etxt.exe\n" + strings.Repeat("x", 500) + "\xff"
	if _, err := h.svc.VerifyDevice(h.ctx, tok, h.codeAt(u.Key, 0), "", account.DeviceRequest{Remember: true, UserAgent: ua}); err != nil {
		t.Fatal(err)
	}
	ds, err := h.db.RememberedDevices(h.ctx, u.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("RememberedDevices = %v, %v", ds, err)
	}
	l := ds[0].Label
	if !utf8.ValidString(l) || strings.ContainsFunc(l, account.UnsafeRune) || utf8.RuneCountInString(l) > 120 || !strings.HasPrefix(l, "Evil [31m txt.exe x") {
		t.Fatalf("label %q", l)
	}
}

// TestRememberedDeviceNotInATemporaryPasswordSignIn: a sign-in with a temporary password goes
// on to choose a new password, which forgets every device (SPEC §10), so its Verification
// Required offers no box and a ticked one remembers nothing; the sign-in after the new password
// offers it again.
func TestRememberedDeviceNotInATemporaryPasswordSignIn(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.MFARememberDevice, "7d")
	u := h.enrolledUser("tess")
	if _, err := h.svc.ResetPassword(h.ctx, account.CLI, "tess"); err != nil {
		t.Fatal(err)
	}
	msgs := h.mail.to(u.Email)
	u.Password = temporaryPasswordIn(t, msgs[len(msgs)-1].Body)

	h.clock.Advance(30 * time.Second)
	tok := h.mustSignIn(u, account.StepVerify)
	if days, err := h.svc.RememberDeviceDays(h.ctx, tok); err != nil || days != 0 {
		t.Fatalf("RememberDeviceDays before a new password = %d, %v; want 0", days, err)
	}
	st, err := h.svc.VerifyDevice(h.ctx, tok, h.codeAt(u.Key, 0), "", account.DeviceRequest{Remember: true, UserAgent: testUA})
	if err != nil || st.Next != account.StepChangePassword || st.DeviceToken != "" {
		t.Fatalf("VerifyDevice with a temporary password = %+v, %v; want change_password and no device", st, err)
	}
	if got := h.events("tess", account.ActionDeviceRemembered); len(got) != 0 {
		t.Fatalf("a device was remembered: %v", got)
	}
	if _, err := h.svc.ChangeTemporaryPassword(h.ctx, st.Token, goodPassword); err != nil {
		t.Fatal(err)
	}
	u.Password = goodPassword

	h.clock.Advance(30 * time.Second)
	tok = h.mustSignIn(u, account.StepVerify)
	if days, err := h.svc.RememberDeviceDays(h.ctx, tok); err != nil || days != 7 {
		t.Fatalf("RememberDeviceDays after the new password = %d, %v; want 7", days, err)
	}
	if days, err := h.svc.RememberDeviceDays(h.ctx, "not-a-sign-in"); err != nil || days != 0 {
		t.Fatalf("RememberDeviceDays of no sign-in = %d, %v; want 0", days, err)
	}
}
