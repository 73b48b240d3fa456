package account_test

// SPEC §5 passwords and secrets at rest; §3 "/me".

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// newPasswordCases are the password rules of SPEC §5, for a user named "hugo".
var newPasswordCases = []struct {
	name, pw string
	ok       bool
	reason   string
}{
	{"11 characters", "abcdefghijk", false, "at least 12"},
	{"11 code points in 22 bytes", strings.Repeat("é", 11), false, "at least 12"},
	{"257 characters", strings.Repeat("z", 257), false, "at most 256"},
	{"common", "contortionist", false, "common"},
	{"common in another case", "Contortionist", false, "common"},
	{"contains the username", "my name is Hugo, hi!", false, "username"},
	{"12 characters", "qz8!kv3@mw7#", true, ""},
	{"256 characters", strings.Repeat("y", 256), true, ""},
	{"any Unicode, no composition rules", "ééééééééééééé", true, ""},
}

func TestTemporaryPasswordChange(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.InternalMFA, options.PolicyOff)
	u := h.createUser("hugo", userSpec{Temporary: true})
	tok := h.mustSignIn(u, account.StepChangePassword)
	other := h.mustSignIn(u, account.StepChangePassword)
	for _, tc := range newPasswordCases {
		if tc.ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.ChangeTemporaryPassword(h.ctx, tok, tc.pw)
			e := wantCode(t, err, errs.Invalid)
			if !strings.Contains(e.Message, tc.reason) {
				t.Fatalf("message %q does not give the reason %q", e.Message, tc.reason)
			}
			if got := h.state(tok); got != account.StepChangePassword {
				t.Fatalf("state %q", got)
			}
		})
	}
	if su := h.storeUser("hugo"); !su.PasswordTemporary {
		t.Fatal("refused new passwords changed the password")
	}
	st, err := h.svc.ChangeTemporaryPassword(h.ctx, tok, "qz8!kv3@mw7#")
	mustNo(t, err)
	if st.Next != account.StepDone {
		t.Fatalf("next %q", st.Next)
	}
	if h.alive(other) {
		t.Fatal("changing the password left another sign-in of the account")
	}
	h.principal(st.Token)
	_, err = h.signIn("hugo", u.Password)
	wantCode(t, err, errs.InvalidCredentials)
	u.Password = "qz8!kv3@mw7#"
	h.mustSignIn(u, account.StepDone)
	if len(h.events("hugo", "password.changed")) != 1 {
		t.Fatal("password change not audited")
	}
}

func TestProfilePasswordChange(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.InternalMFA, options.PolicyOff)
	u := h.createUser("hugo", userSpec{})

	t.Run("rules", func(t *testing.T) {
		for _, tc := range newPasswordCases {
			t.Run(tc.name, func(t *testing.T) {
				sess := h.mustSignIn(u, account.StepDone)
				tok, err := h.svc.ChangePassword(h.ctx, h.principal(sess), u.Password, tc.pw, "192.0.2.1")
				if !tc.ok {
					e := wantCode(t, err, errs.Invalid)
					if !strings.Contains(e.Message, tc.reason) {
						t.Fatalf("message %q does not give the reason %q", e.Message, tc.reason)
					}
					return
				}
				mustNo(t, err)
				if tok == "" || tok == sess || h.alive(sess) {
					t.Fatal("the session id did not change with the password")
				}
				u.Password = tc.pw
				h.principal(tok)
			})
		}
	})

	t.Run("ends the other sessions", func(t *testing.T) {
		s1 := h.mustSignIn(u, account.StepDone)
		s2 := h.mustSignIn(u, account.StepDone)
		tok, err := h.svc.ChangePassword(h.ctx, h.principal(s1), u.Password, "another fine passphrase", "192.0.2.1")
		mustNo(t, err)
		if h.alive(s2) {
			t.Fatal("another session survived the password change")
		}
		h.principal(tok)
		_, err = h.signIn("hugo", u.Password)
		wantCode(t, err, errs.InvalidCredentials)
		h.clearPasswordFailures("hugo")
		u.Password = "another fine passphrase"
	})

	t.Run("needs the current password, and wrong ones count towards the lock", func(t *testing.T) {
		sess := h.mustSignIn(u, account.StepDone)
		p := h.principal(sess)
		for i := 1; i <= 10; i++ {
			_, err := h.svc.ChangePassword(h.ctx, p, "not my password", "a third fine passphrase", "192.0.2.44")
			wantCode(t, err, errs.InvalidCredentials)
		}
		_, err := h.svc.ChangePassword(h.ctx, p, u.Password, "a third fine passphrase", "192.0.2.44")
		wantCode(t, err, errs.Locked)
		_, err = h.signIn("hugo", u.Password)
		wantCode(t, err, errs.Locked)
		if su := h.storeUser("hugo"); !strings.HasPrefix(su.PasswordHash, "$argon2id$") {
			t.Fatal("password hash lost")
		}
		h.clock.Advance(15*time.Minute + time.Second)
		h.mustSignIn(u, account.StepDone)
	})

	t.Run("SSO accounts have no password here", func(t *testing.T) {
		h2 := newHarness(t)
		h2.setOption(options.InternalMFA, options.PolicyOff)
		h2.createUser("sso", userSpec{Source: store.SourceSSO})
		// An SSO session is made by the identity provider; stand one in directly.
		su := h2.storeUser("sso")
		raw := strings.Repeat("A", 43)
		sum := sha256.Sum256([]byte(raw))
		mustNo(t, h2.db.CreateSession(h2.ctx, &store.Session{IDHash: sum[:], UserID: su.ID, Done: true,
			CreatedAt: h2.clock.Now(), LastSeenAt: h2.clock.Now()}))
		_, err := h2.svc.ChangePassword(h2.ctx, h2.principal(raw), "x", "another fine passphrase", "")
		wantCode(t, err, errs.SSOAccount)
	})
}

// dbFiles answers the bytes of the database and its WAL: everything at rest.
func (h *harness) dbFiles() []byte {
	h.t.Helper()
	var all []byte
	for _, p := range []string{h.dbPath, h.dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			h.t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestSecretsAtRest(t *testing.T) {
	h := newHarness(t)
	u := h.user("zoe")
	other := h.user("zed")
	tok := h.mustSignIn(u, account.StepEnroll)
	e, err := h.svc.Enroll(h.ctx, tok)
	mustNo(t, err)
	rawKey, _ := otp.DecodeKey(e.Secret)

	t.Run("the pending key is sealed", func(t *testing.T) {
		at := h.dbFiles()
		if bytes.Contains(at, rawKey) || bytes.Contains(at, []byte(e.Secret)) {
			t.Fatal("the pending key is readable in the database")
		}
	})

	st, err := h.svc.VerifyEnroll(h.ctx, tok, otp.TOTP(rawKey, h.clock.Now(), otp.Default))
	mustNo(t, err)
	codes := st.BackupCodes
	sess := st.Token

	t.Run("the TOTP key is sealed and bound to its account", func(t *testing.T) {
		su := h.storeUser("zoe")
		if bytes.Contains(su.TOTPKey, rawKey) || su.TOTPKeyVersion != keys.Version {
			t.Fatal("stored key holds the raw key")
		}
		if got, err := h.keys.OpenTOTP(su.ID, su.TOTPKeyVersion, su.TOTPKey); err != nil || !bytes.Equal(got, rawKey) {
			t.Fatalf("the key does not open for its own account: %v", err)
		}
		if _, err := h.keys.OpenTOTP(other.ID, su.TOTPKeyVersion, su.TOTPKey); err == nil {
			t.Fatal("the key opens as another account")
		}
		if _, err := h.keys.OpenTOTP(su.ID, su.TOTPKeyVersion+1, su.TOTPKey); err == nil {
			t.Fatal("the key opens under another version")
		}
		at := h.dbFiles()
		if bytes.Contains(at, rawKey) || bytes.Contains(at, []byte(e.Secret)) {
			t.Fatal("the TOTP key is readable in the database")
		}
		// A sealed key copied onto another account does not work there.
		zed := h.storeUser("zed")
		zed.TOTPKey, zed.TOTPKeyVersion = su.TOTPKey, su.TOTPKeyVersion
		mustNo(t, h.db.UpdateUser(h.ctx, zed))
		zt := h.mustSignIn(other, account.StepVerify)
		h.clock.Advance(30 * time.Second)
		_, err := h.svc.Verify(h.ctx, zt, otp.TOTP(rawKey, h.clock.Now(), otp.Default), "")
		if err == nil {
			t.Fatal("a key copied from another account was accepted")
		}
	})

	t.Run("session ids are stored only as hashes", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(sess)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 256 bits: %v", sess, err)
		}
		sum := sha256.Sum256([]byte(sess))
		s, err := h.db.Session(h.ctx, sum[:])
		if err != nil {
			t.Fatalf("no session under the token's SHA-256: %v", err)
		}
		if bytes.Equal(s.IDHash, []byte(sess)) || bytes.Equal(s.IDHash, raw) {
			t.Fatal("session id stored in the clear")
		}
		rows, err := h.rawDB().Query(`SELECT id_hash FROM sessions`)
		mustNo(t, err)
		defer rows.Close()
		n := 0
		for rows.Next() {
			var id []byte
			mustNo(t, rows.Scan(&id))
			n++
			if bytes.Contains(id, raw) || bytes.Contains(id, []byte(sess)) || len(id) != sha256.Size {
				t.Fatal("a stored session id is not a hash")
			}
		}
		if n == 0 {
			t.Fatal("no sessions read")
		}
		at := h.dbFiles()
		if bytes.Contains(at, raw) || bytes.Contains(at, []byte(sess)) {
			t.Fatal("the session token is readable in the database")
		}
	})

	t.Run("backup codes are stored as per-account MACs", func(t *testing.T) {
		su := h.storeUser("zoe")
		zed := h.storeUser("zed")
		if len(su.BackupSalt) < 16 || bytes.Equal(su.BackupSalt, zed.BackupSalt) {
			t.Fatal("accounts do not have their own salts")
		}
		stored := map[string]bool{}
		rows, err := h.rawDB().Query(`SELECT mac FROM backup_codes WHERE user_id = ?`, su.ID)
		mustNo(t, err)
		for rows.Next() {
			var mac []byte
			mustNo(t, rows.Scan(&mac))
			stored[string(mac)] = true
		}
		rows.Close()
		if len(stored) != len(codes) {
			t.Fatalf("%d stored codes, %d shown", len(stored), len(codes))
		}
		at := h.dbFiles()
		for _, c := range codes {
			norm, err := backupcode.Normalize(c)
			mustNo(t, err)
			plain := sha256.Sum256([]byte(norm))
			if stored[norm] || stored[string(plain[:])] || stored[c] {
				t.Fatal("a backup code is stored in the clear or as a bare SHA-256")
			}
			if !stored[string(backupcode.MAC(h.keys.BackupMACKey(), su.BackupSalt, norm))] {
				t.Fatal("stored value is not the keyed MAC under the account's salt")
			}
			if stored[string(backupcode.MAC(h.keys.BackupMACKey(), zed.BackupSalt, norm))] {
				t.Fatal("the MAC does not depend on the account's salt")
			}
			if bytes.Contains(at, []byte(norm)) || bytes.Contains(at, []byte(c)) {
				t.Fatal("a backup code is readable in the database")
			}
		}
		// Another account cannot use them.
		zt := h.mustSignIn(other, account.StepVerify)
		_, err = h.svc.Verify(h.ctx, zt, "", codes[0])
		if err == nil {
			t.Fatal("another account's backup code was accepted")
		}
	})

	t.Run("passwords are argon2id hashes", func(t *testing.T) {
		su := h.storeUser("zoe")
		if !strings.HasPrefix(su.PasswordHash, "$argon2id$v=19$") {
			t.Fatalf("hash %q", su.PasswordHash)
		}
		ok, err := password.Verify(goodPassword, su.PasswordHash)
		if err != nil || !ok {
			t.Fatal("stored hash does not verify")
		}
		_, tmp, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "tmp", Email: "tmp@example.com"})
		mustNo(t, err)
		at := h.dbFiles()
		if bytes.Contains(at, []byte(goodPassword)) || bytes.Contains(at, []byte(tmp)) {
			t.Fatal("a password is readable in the database")
		}
	})
}

func TestMe(t *testing.T) {
	h := newHarness(t)
	h.setOption(options.ExternalMFA, options.PolicyRequired)
	u := h.createUser("ext", userSpec{Kind: store.KindExternal})
	tok := h.mustSignIn(u, account.StepEnroll)
	st := h.enrollAndVerify(u, tok)
	me, err := h.svc.Me(h.ctx, h.principal(st.Token))
	mustNo(t, err)
	want := account.Me{Username: "ext", Email: "ext@example.com", Kind: store.KindExternal, Source: store.SourceLocal,
		Role: store.RoleUser}
	if me.Username != want.Username || me.Email != want.Email || me.Kind != want.Kind || me.Source != want.Source ||
		me.Role != want.Role {
		t.Fatalf("me %+v", me)
	}
	if me.MFA.Policy != options.PolicyRequired || !me.MFA.Enrolled || !me.MFA.BackupCodesEnabled ||
		me.MFA.BackupCodesRemaining == nil || *me.MFA.BackupCodesRemaining != 5 {
		t.Fatalf("mfa %+v", me.MFA)
	}
	if a := h.principal(st.Token).Actor(); a.Admin || a.Name != "ext" {
		t.Fatalf("actor %+v", a)
	}
}
