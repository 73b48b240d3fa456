package storetest

import (
	"errors"
	"iter"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// fill writes at least one row of every table, with every field set somewhere and the zero
// values elsewhere, as the account service would.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	alice := NewUser(t, s, "alice")
	bob := NewUser(t, s, "bob")
	alice.TOTPKey, alice.TOTPKeyVersion, alice.TOTPLastStep = []byte{0, 1, 0xfe, 0xff}, 1, 58_000_001
	alice.PasswordTemporary, alice.PasswordExpiresAt = true, t0.Add(24*time.Hour)
	alice.MFAFailures, alice.MFALockedUntil = 5, t0.Add(15*time.Minute)
	alice.EmailVerified = true
	alice.Groups = []string{"dev", "ops.eu"}
	if err := s.UpdateUser(ctx, alice); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	bob.Disabled, bob.MFALockedForever, bob.Role = true, true, store.RoleAdmin
	if err := s.UpdateUser(ctx, bob); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if err := s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{UserID: alice.ID,
		CredentialID: []byte("cred-1"), PublicKey: []byte{0xa5, 1, 2}, SignCount: 7,
		Transports: []string{"usb", "nfc"}, Flags: 0x1d, AttestationType: "none", AAGUID: make([]byte, 16),
		Name: "YubiKey", CreatedAt: t0, LastUsedAt: t0.Add(time.Minute), Disabled: true}); err != nil {
		t.Fatalf("AddWebAuthnCredential: %v", err)
	}
	if err := s.AddRememberedDevice(ctx, &store.RememberedDevice{UserID: alice.ID, TokenHash: []byte("device-hash"),
		Label: "Firefox", CreatedAt: t0, LastUsedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(48 * time.Hour)}, t0); err != nil {
		t.Fatalf("AddRememberedDevice: %v", err)
	}
	if err := s.AddBackupCodes(ctx, alice.ID, [][]byte{[]byte("mac-1"), []byte("mac-2"), []byte("mac-3")}); err != nil {
		t.Fatalf("AddBackupCodes: %v", err)
	}
	if ok, err := s.UseBackupCode(ctx, alice.ID, []byte("mac-2"), t0); err != nil || !ok {
		t.Fatalf("UseBackupCode = %v, %v", ok, err)
	}
	for name, f := range map[string]store.PasswordFailures{
		"alice":  {Failures: 1, CountsUntil: t0.Add(time.Minute)},
		"nobody": {LockedUntil: t0.Add(time.Minute), CountsUntil: t0.Add(time.Minute)},
	} {
		if err := s.SetPasswordFailures(ctx, nameKey(name), f, t0); err != nil {
			t.Fatalf("SetPasswordFailures: %v", err)
		}
	}
	for i := range 3 {
		if _, ok, err := s.ReserveAddressAttempt(ctx, "192.0.2.9", t0.Add(time.Duration(i)*time.Second), t0.Add(-time.Minute), 10); err != nil || !ok {
			t.Fatalf("ReserveAddressAttempt = %v, %v", ok, err)
		}
	}
	for _, sess := range []*store.Session{
		{IDHash: hash("copy-signin"), UserID: alice.ID, MFASkipped: true, PendingKey: []byte("pending"), CreatedAt: t0, LastSeenAt: t0},
		{IDHash: hash("copy-session"), UserID: bob.ID, Done: true, MFAPassed: true, Reauthenticated: true, CreatedAt: t0, LastSeenAt: t0.Add(time.Minute),
			SID: "copy-sid", AMR: []string{"pwd", "otp", "mfa"}, MFARequired: true, ReturnTo: "/authorize?id=ar-1", DeviceRemembered: true},
	} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.SetOption(ctx, "mfaBackupCodeCount", "7"); err != nil {
		t.Fatalf("SetOption: %v", err)
	}
	for i, a := range []string{"user.created", "mfa.enrolled", "option.changed"} {
		if err := s.AddEvent(ctx, &store.Event{At: t0.Add(time.Duration(i) * time.Second), Actor: "cli", User: "alice", Action: a, Detail: "détail ✓"}); err != nil {
			t.Fatalf("AddEvent: %v", err)
		}
	}
	if _, err := s.SetMetaOnce(ctx, "key_check", "check"); err != nil {
		t.Fatalf("SetMetaOnce: %v", err)
	}
	fillProvider(t, s, alice, bob)
	for i, host := range []string{"app.example.com", "admin.example.com"} {
		if err := s.AddAccessRule(ctx, ruleOf(host, i), 0); err != nil {
			t.Fatalf("AddAccessRule: %v", err)
		}
	}
}

// fillProvider writes the OpenID Connect provider's rows of fill: two clients, two
// authorization requests, three tokens, a consent, two signing keys and a session's client.
func fillProvider(t *testing.T, s store.Store, alice, bob *store.User) {
	t.Helper()
	ctx := t.Context()
	newClient(t, s, "app", t0)
	if err := s.CreateClient(ctx, &store.Client{ID: "public-app", Name: "Public", Public: true,
		RedirectURIs: []string{"http://127.0.0.1:9/cb"}, CreatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	redeemed := newAuthRequest(t, s, "ar-redeemed", "app", alice.ID)
	redeemed.Redeemed, redeemed.Replayed = true, true
	if err := s.UpdateAuthRequest(ctx, redeemed); err != nil {
		t.Fatalf("UpdateAuthRequest: %v", err)
	}
	if err := s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar-new", ClientID: "public-app", Request: []byte("{}"), CreatedAt: t0}); err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
	used := newToken(t, s, "used", "ar-redeemed", "app", alice.ID, "copy-sid")
	if ok, err := s.UseToken(ctx, used.IDHash); err != nil || !ok {
		t.Fatalf("UseToken = %v, %v", ok, err)
	}
	newToken(t, s, "fresh", "ar-redeemed", "app", alice.ID, "copy-sid")
	if err := s.CreateToken(ctx, &store.Token{IDHash: hash("tok-access"), Kind: store.TokenAccess, Family: "f",
		ClientID: "public-app", UserID: bob.ID, ExpiresAt: t0.Add(15 * time.Minute), CreatedAt: t0}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if err := s.SetConsent(ctx, &store.Consent{UserID: alice.ID, ClientID: "app", Scopes: []string{"openid", "email"}, CreatedAt: t0}); err != nil {
		t.Fatalf("SetConsent: %v", err)
	}
	for _, k := range []*store.SigningKey{
		{ID: "k-old", Sealed: []byte{0, 1, 2}, KeyVersion: 1, CreatedAt: t0, RetiredAt: t0.Add(time.Hour)},
		{ID: "k-new", Sealed: []byte{0xff, 0}, KeyVersion: 2, CreatedAt: t0.Add(time.Hour)},
	} {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatalf("CreateSigningKey: %v", err)
		}
	}
	if err := s.AddSessionClient(ctx, "copy-sid", "app", bob.ID, t0); err != nil {
		t.Fatalf("AddSessionClient: %v", err)
	}
	n := logoutNoticeOf("app", "copy-sid", bob.ID, t0)
	n.Attempts, n.LastError = 2, "503 Service Unavailable"
	addNotice(t, s, n)
}

// export reads every record of c.
func export(t *testing.T, c store.Copier) []store.Record {
	t.Helper()
	var rs []store.Record
	for r, err := range c.Export(t.Context()) {
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		rs = append(rs, r)
	}
	return rs
}

func records(rs ...store.Record) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// RunCopy checks store.Copy between two backends, as `twofold copy-db` uses it: from a store
// that open opens into one that other opens, and back. Both must be store.Copiers.
func RunCopy(t *testing.T, open, other func(t *testing.T) store.Store) {
	t.Run("There", func(t *testing.T) { copyBetween(t, open, other) })
	t.Run("Back", func(t *testing.T) { copyBetween(t, other, open) })
}

// testCopy is copyBetween two stores of the backend under test. Backends that are not a
// store.Copier skip it.
func testCopy(t *testing.T, open func(t *testing.T) store.Store) {
	copyBetween(t, open, open)
}

// copyBetween moves a store's every row into a fresh store with store.Copy, and checks that
// the copy reads the same, ids included, and goes on from there; then that a target with rows
// is refused and that a failed import writes nothing.
func copyBetween(t *testing.T, open, openTarget func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := open(t)
	from, ok := src.(store.Copier)
	if !ok {
		t.Skip("the backend is not a store.Copier")
	}
	fill(t, src)
	want := store.Counts{"users": 2, "backup_codes": 3, "password_failures": 2, "address_failures": 3,
		"sessions": 2, "options": 1, "events": 3, "meta": 2,
		"clients": 2, "auth_requests": 2, "tokens": 3, "consents": 1, "signing_keys": 2, "session_clients": 1,
		"logout_notices": 1, "access_rules": 2, "webauthn_credentials": 1,
		"remembered_devices": 1}
	if got, err := from.Count(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Count = %v, %v; want %v", got, err, want)
	}
	in := export(t, from)
	last, maxUser, maxEvent, maxNotice, maxDevice := -1, int64(0), int64(0), int64(0), int64(0)
	for _, r := range in {
		var err error
		if last, err = store.TableOrder(last, r.Table()); err != nil {
			t.Fatalf("Export: %v", err)
		}
		if r.User != nil {
			maxUser = max(maxUser, r.User.ID)
		}
		if r.Event != nil {
			maxEvent = max(maxEvent, r.Event.ID)
		}
		if r.LogoutNotice != nil {
			maxNotice = max(maxNotice, r.LogoutNotice.ID)
		}
		if r.Device != nil {
			maxDevice = max(maxDevice, r.Device.ID)
		}
	}

	dst := openTarget(t)
	to, ok := dst.(store.Copier)
	if !ok {
		t.Skip("the target backend is not a store.Copier")
	}
	counts, err := store.Copy(ctx, from, to)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("Copy answered %v, want %v", counts, want)
	}
	if out := export(t, to); !reflect.DeepEqual(in, out) {
		for i := range min(len(in), len(out)) {
			if !reflect.DeepEqual(in[i], out[i]) {
				t.Fatalf("the copy differs at record %d (%s)", i, in[i].Table())
			}
		}
		t.Fatalf("the copy has %d records, the source %d", len(out), len(in))
	}

	// The copy reads the same through the Queries, and goes on after the largest ids.
	users, err := dst.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("Users of the copy = %d, %v", len(users), err)
	}
	for _, u := range users {
		if d := diffUser(getUser(t, src, u.ID), u); d != "" {
			t.Errorf("copied user %s: %s", u.Username, d)
		}
	}
	alice, err := dst.UserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	if n, err := dst.CountBackupCodes(ctx, alice.ID); err != nil || n != 2 {
		t.Errorf("CountBackupCodes of the copy = %d, %v; want 2", n, err)
	}
	if ok, err := dst.UseBackupCode(ctx, alice.ID, []byte("mac-2"), t0); err != nil || ok {
		t.Errorf("a used code works again in the copy: %v, %v", ok, err)
	}
	if ok, err := dst.SetTOTPStep(ctx, alice.ID, 58_000_001); err != nil || ok {
		t.Errorf("the last TOTP step is accepted again in the copy: %v, %v", ok, err)
	}
	if sess, err := dst.Session(ctx, hash("copy-session")); err != nil || !sess.Done || !sess.Reauthenticated || sess.SID != "copy-sid" {
		t.Errorf("Session of the copy = %+v, %v", sess, err)
	}
	if u, err := dst.UserBySubject(ctx, alice.Subject); err != nil || u.ID != alice.ID || !u.EmailVerified {
		t.Errorf("UserBySubject of the copy = %+v, %v", u, err)
	}
	if ok, err := dst.UseToken(ctx, hash("tok-used")); err != nil || ok {
		t.Errorf("a used refresh token works again in the copy: %v, %v", ok, err)
	}
	if a, err := dst.AuthRequestByCode(ctx, hash("code-ar-redeemed")); err != nil || !a.Redeemed {
		t.Errorf("AuthRequestByCode of the copy = %+v, %v", a, err)
	}
	if ids, err := dst.SessionClients(ctx, "copy-sid"); err != nil || len(ids) != 1 {
		t.Errorf("SessionClients of the copy = %q, %v", ids, err)
	}
	if carol := NewUser(t, dst, "carol"); carol.ID <= maxUser {
		t.Errorf("an account made after the copy got id %d, not after the copied %d", carol.ID, maxUser)
	}
	e := &store.Event{At: t0, Actor: "cli", Action: "after.copy"}
	if err := dst.AddEvent(ctx, e); err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	if e.ID <= maxEvent {
		t.Errorf("an event added after the copy got id %d, not after the copied %d", e.ID, maxEvent)
	}
	if ns, err := dst.DueLogoutNotices(ctx, t0, 10); err != nil || len(ns) != 1 || ns[0].Attempts != 2 {
		t.Errorf("DueLogoutNotices of the copy = %v, %v", ns, err)
	}
	if n := addNotice(t, dst, logoutNoticeOf("app", "after-copy", alice.ID, t0)); n.ID <= maxNotice {
		t.Errorf("a notice added after the copy got id %d, not after the copied %d", n.ID, maxNotice)
	}
	d := &store.RememberedDevice{UserID: alice.ID, TokenHash: []byte("after-copy"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := dst.AddRememberedDevice(ctx, d, t0); err != nil || d.ID <= maxDevice {
		t.Errorf("a device remembered after the copy got id %d (%v), not after the copied %d", d.ID, err, maxDevice)
	}

	if h := hostsOf(t, dst); !slices.Equal(h, []string{"app.example.com", "admin.example.com"}) {
		t.Errorf("AccessRules of the copy = %q", h)
	}
	if v, err := dst.AccessRulesVersion(ctx); err != nil || v != 2 {
		t.Errorf("AccessRulesVersion of the copy = %d, %v; want 2", v, err)
	}
	if r := ruleOf("after.example.com", 0); dst.AddAccessRule(ctx, r, 0) != nil || r.Position != 3 {
		t.Errorf("a rule added after the copy went to position %d, want 3", r.Position)
	}

	// A target that holds anything is refused, and left as it was.
	before, _ := to.Count(ctx)
	if _, err := store.Copy(ctx, from, to); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("Copy into a store with rows = %v, want ErrNotEmpty", err)
	}
	if err := to.Import(ctx, records(in...)); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("Import into a store with rows = %v, want ErrNotEmpty", err)
	}
	if after, _ := to.Count(ctx); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused import changed the counts from %v to %v", before, after)
	}

	// An import that fails half-way writes nothing.
	empty := openTarget(t).(store.Copier)
	failing := func(yield func(store.Record, error) bool) {
		for _, r := range in[:3] {
			if !yield(r, nil) {
				return
			}
		}
		yield(store.Record{}, errTest)
	}
	if err := empty.Import(ctx, failing); !errors.Is(err, errTest) {
		t.Errorf("Import of a failing sequence = %v, want its error", err)
	}
	outOfOrder := records(store.Record{Option: &store.KeyValue{Key: "k", Value: "v"}}, in[0])
	if err := empty.Import(ctx, outOfOrder); err == nil {
		t.Errorf("Import of records out of table order succeeded")
	}
	if n, err := empty.Count(ctx); err != nil || !n.Empty() {
		t.Errorf("after failed imports the store holds %v, %v; want nothing", n, err)
	}
}
