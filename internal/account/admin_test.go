package account_test

// SPEC §1 accounts and creation, §2 options, §3 admin actions, bootstrap.

import (
	"errors"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

func TestCreateUserValidation(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		n    account.NewUser
		says string
	}{
		{"empty username", account.NewUser{Email: "a@example.com"}, "1 to 64 characters"},
		{"65-character username", account.NewUser{Username: strings.Repeat("a", 65), Email: "a@example.com"}, "1 to 64 characters"},
		{"username with a space", account.NewUser{Username: "a b", Email: "a@example.com"}, "1 to 64 characters"},
		{"username with a colon", account.NewUser{Username: "a:b", Email: "a@example.com"}, "1 to 64 characters"},
		{"no email", account.NewUser{Username: "amy"}, "email"},
		{"not an email", account.NewUser{Username: "amy", Email: "amy"}, "email"},
		{"email with a display name", account.NewUser{Username: "amy", Email: "Amy <amy@example.com>"}, "email"},
		{"two emails", account.NewUser{Username: "amy", Email: "amy@example.com, bob@example.com"}, "email"},
		{"name with a newline", account.NewUser{Username: "amy", Email: "amy@example.com", Name: "Amy\nBcc: x@y"}, "name"},
		{"kind", account.NewUser{Username: "amy", Email: "amy@example.com", Kind: "robot"}, "internal, external"},
		{"source", account.NewUser{Username: "amy", Email: "amy@example.com", Source: "ldap"}, "local, sso"},
		{"role", account.NewUser{Username: "amy", Email: "amy@example.com", Role: "root"}, "user, admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.svc.CreateUser(h.ctx, account.CLI, tc.n)
			e := wantCode(t, err, errs.Invalid)
			if !strings.Contains(e.Message, tc.says) {
				t.Fatalf("message %q does not say %q", e.Message, tc.says)
			}
		})
	}
	if n, _ := h.db.CountUsers(h.ctx, ""); n != 0 {
		t.Fatalf("%d accounts made by refused requests", n)
	}
	if len(h.mail.all()) != 0 || len(h.events("", "user.created")) != 0 {
		t.Fatal("refused requests sent mail or were audited as creations")
	}

	t.Run("duplicate in any case", func(t *testing.T) {
		_, _, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "Carol.X@corp", Email: "c@example.com"})
		mustNo(t, err)
		if h.storeUser("carol.x@corp").Username != "carol.x@corp" {
			t.Fatal("username not kept in lower case")
		}
		for _, name := range []string{"carol.x@corp", "CAROL.X@CORP"} {
			_, _, err = h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: name, Email: "d@example.com"})
			wantCode(t, err, errs.Conflict)
		}
		if n, _ := h.db.CountUsers(h.ctx, ""); n != 1 {
			t.Fatalf("%d accounts", n)
		}
	})

	t.Run("kinds, sources and roles are kept", func(t *testing.T) {
		v, _, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "xa", Email: "xa@example.com",
			Kind: store.KindExternal, Source: store.SourceSSO, Role: store.RoleAdmin, Name: "X A"})
		mustNo(t, err)
		if v.Kind != store.KindExternal || v.Source != store.SourceSSO || v.Role != store.RoleAdmin || v.Name != "X A" {
			t.Fatalf("view %+v", v.Me)
		}
		v, _, err = h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "xb", Email: "xb@example.com"})
		mustNo(t, err)
		if v.Kind != store.KindInternal || v.Source != store.SourceLocal || v.Role != store.RoleUser {
			t.Fatalf("defaults %+v", v.Me)
		}
	})
}

func TestCreateUserEmails(t *testing.T) {
	h := newHarness(t, withOutbox())
	v, pw, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "Dave", Email: "dave@example.com", Name: "Dave D"})
	mustNo(t, err)
	if v.Username != "dave" || pw == "" {
		t.Fatalf("view %+v, password %q", v.Me, pw)
	}
	msgs := h.mail.to("dave@example.com")
	if len(msgs) != 2 || msgs[0].Subject != account.SubjectPasswordGenerated || msgs[1].Subject != account.SubjectNewPassword {
		t.Fatalf("messages %+v", msgs)
	}
	if !regexp.MustCompile(`(?m)^Username: dave$`).MatchString(msgs[0].Body) ||
		!strings.Contains(msgs[0].Body, "https://twofold.example.org/signin") {
		t.Fatalf("Password Generated body %q", msgs[0].Body)
	}
	if strings.Contains(msgs[0].Body, pw) {
		t.Fatal("the first email carries the password")
	}
	if got := temporaryPasswordIn(t, msgs[1].Body); got != pw {
		t.Fatalf("emailed %q, answered %q", got, pw)
	}
	if len(h.events("dave", "user.created")) != 1 {
		t.Fatal("creation not audited")
	}

	// The real outbox holds the same two messages as .eml files.
	files, err := filepath.Glob(filepath.Join(h.outbox, "*.eml"))
	mustNo(t, err)
	if len(files) != 2 {
		t.Fatalf("%d files in the outbox", len(files))
	}
	var subjects []string
	var outboxPW string
	for _, f := range files {
		fh, err := os.Open(f)
		mustNo(t, err)
		m, err := mail.ReadMessage(fh)
		mustNo(t, err)
		raw, err := io.ReadAll(m.Body)
		mustNo(t, err)
		body := string(raw)
		fh.Close()
		if m.Header.Get("To") != "<dave@example.com>" && m.Header.Get("To") != "dave@example.com" {
			t.Fatalf("To %q", m.Header.Get("To"))
		}
		subjects = append(subjects, m.Header.Get("Subject"))
		if m.Header.Get("Subject") == account.SubjectNewPassword {
			outboxPW = temporaryPasswordIn(t, body)
		} else if !regexp.MustCompile(`(?m)^Username: dave\r?$`).MatchString(body) {
			t.Fatalf("outbox body %q", body)
		}
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{account.SubjectNewPassword, account.SubjectPasswordGenerated}) {
		t.Fatalf("outbox subjects %q", subjects)
	}
	// The emailed temporary password signs in.
	u := &testUser{Name: "dave", Password: outboxPW}
	h.mustSignIn(u, account.StepEnroll)

	t.Run("SSO accounts get only the first", func(t *testing.T) {
		_, pw, err := h.svc.CreateUser(h.ctx, account.CLI, account.NewUser{Username: "sso1", Email: "sso1@example.com",
			Source: store.SourceSSO})
		mustNo(t, err)
		msgs := h.mail.to("sso1@example.com")
		if pw != "" || len(msgs) != 1 || msgs[0].Subject != account.SubjectPasswordGenerated ||
			!strings.Contains(msgs[0].Body, "Username: sso1") {
			t.Fatalf("password %q, messages %+v", pw, msgs)
		}
		if su := h.storeUser("sso1"); su.PasswordHash != "" || su.PasswordTemporary {
			t.Fatal("SSO account has a password")
		}
	})
}

func TestAdminOnly(t *testing.T) {
	h := newHarness(t)
	h.user("bob")
	joe := account.Actor{Name: "joe"}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"create user", func() error {
			_, _, err := h.svc.CreateUser(h.ctx, joe, account.NewUser{Username: "x", Email: "x@example.com"})
			return err
		}},
		{"list users", func() error { _, err := h.svc.Users(h.ctx, joe); return err }},
		{"show user", func() error { _, err := h.svc.User(h.ctx, joe, "bob"); return err }},
		{"reset MFA", func() error { _, err := h.svc.ResetMFA(h.ctx, joe, "bob", false); return err }},
		{"unlock", func() error { _, err := h.svc.Unlock(h.ctx, joe, "bob"); return err }},
		{"reset password", func() error { _, err := h.svc.ResetPassword(h.ctx, joe, "bob"); return err }},
		{"disable", func() error { _, err := h.svc.SetDisabled(h.ctx, joe, "bob", true); return err }},
		{"list options", func() error { _, err := h.svc.Options(h.ctx, joe, ""); return err }},
		{"set option", func() error {
			_, err := h.svc.SetOption(h.ctx, joe, options.InternalMFA, options.PolicyOff)
			return err
		}},
		{"audit", func() error { _, err := h.svc.Audit(h.ctx, joe, account.EventFilter{}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(), errs.Forbidden)
		})
	}
	su := h.storeUser("bob")
	if su.Disabled || su.PasswordTemporary {
		t.Fatal("a refused admin action changed the account")
	}
	if n, _ := h.db.CountUsers(h.ctx, ""); n != 1 {
		t.Fatal("a refused creation made an account")
	}
	if v, _ := h.db.Options(h.ctx); len(v) != 0 {
		t.Fatal("a refused option change was stored")
	}
}

func TestOptions(t *testing.T) {
	h := newHarness(t)

	t.Run("invalid values name the allowed ones and change nothing", func(t *testing.T) {
		for _, tc := range []struct{ key, value, says string }{
			{options.InternalMFA, "sometimes", "off, required, optional"},
			{options.ExternalMFA, "", "off, required, optional"},
			{options.EnableMFABackupCodes, "maybe", "yes, no"},
			{options.MFABackupCodeCount, "0", "1 to 20"},
			{options.MFABackupCodeCount, "21", "1 to 20"},
			{options.MFABackupCodeCount, "five", "1 to 20"},
			{options.MFARotateBackupCodes, "1", "yes, no"},
			{options.TemporaryPasswordLifetime, "31d", "1s to 30d"},
			{options.TemporaryPasswordLifetime, "0s", "1s to 30d"},
			{options.TemporaryPasswordLifetime, "1w", "1s to 30d"},
			{options.MFAIssuer, "Acme:Corp", "':'"},
			{options.MFAIssuer, "", "1 to 64"},
			{options.MFAIssuer, strings.Repeat("x", 65), "1 to 64"},
			{options.FailedSignInsPerAddress, "-1", "0 to 10000"},
			{options.FailedSignInsPerAddress, "10001", "0 to 10000"},
		} {
			t.Run(tc.key+"="+tc.value, func(t *testing.T) {
				_, err := h.svc.SetOption(h.ctx, account.CLI, tc.key, tc.value)
				e := wantCode(t, err, errs.Invalid)
				if !strings.Contains(e.Message, tc.says) {
					t.Fatalf("message %q does not name %q", e.Message, tc.says)
				}
			})
		}
		_, err := h.svc.SetOption(h.ctx, account.CLI, "noSuchOption", "1")
		wantCode(t, err, errs.NotFound)
		if v, _ := h.db.Options(h.ctx); len(v) != 0 {
			t.Fatalf("stored %v", v)
		}
		if len(h.events("", "option.changed")) != 0 {
			t.Fatal("refused changes audited as changes")
		}
		list, err := h.svc.Options(h.ctx, account.CLI, "")
		mustNo(t, err)
		for _, o := range list {
			if o.Value != o.Default {
				t.Fatalf("%s = %q, default %q", o.Key, o.Value, o.Default)
			}
		}
	})

	t.Run("a change is audited with old and new value and is in effect at once", func(t *testing.T) {
		admin := account.Actor{Name: "root", Admin: true}
		ov, err := h.svc.SetOption(h.ctx, admin, options.InternalMFA, "Optional")
		mustNo(t, err)
		if ov.Value != options.PolicyOptional {
			t.Fatalf("value %q", ov.Value)
		}
		_, err = h.svc.SetOption(h.ctx, admin, options.InternalMFA, options.PolicyOff)
		mustNo(t, err)
		ev := h.events("", "option.changed")
		if len(ev) != 2 || ev[0].Actor != "root" || !strings.Contains(ev[0].Detail, "internalMFA") ||
			!strings.Contains(ev[0].Detail, "optional") || !strings.Contains(ev[0].Detail, "off") ||
			!strings.Contains(ev[1].Detail, "required") || !strings.Contains(ev[1].Detail, "optional") {
			t.Fatalf("events %+v %+v", ev[0], ev[1])
		}
		h.mustSignIn(h.user("opt"), account.StepDone) // the cache saw the change at once
	})

	t.Run("search MFA finds the MFA options", func(t *testing.T) {
		list, err := h.svc.Options(h.ctx, account.CLI, "MFA")
		mustNo(t, err)
		var got []string
		for _, o := range list {
			got = append(got, o.Key)
		}
		want := []string{options.InternalMFA, options.ExternalMFA, options.EnableMFABackupCodes,
			options.MFABackupCodeCount, options.MFARotateBackupCodes, options.MFAIssuer, options.MFAWebAuthn,
			options.MFARememberDevice}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("search MFA: %v, want %v", got, want)
		}
		all, err := h.svc.Options(h.ctx, account.CLI, "")
		mustNo(t, err)
		if len(all) != len(options.All()) || len(all) < 8 {
			t.Fatalf("%d options listed, %d registered", len(all), len(options.All()))
		}
		for _, o := range all {
			if o.Key == options.InternalMFA && o.Value != options.PolicyOff {
				t.Fatalf("listed value %q", o.Value)
			}
		}
	})

	t.Run("issuer reaches enrolment", func(t *testing.T) {
		h2 := newHarness(t)
		h2.setOption(options.MFAIssuer, "Acme Corp")
		tok := h2.mustSignIn(h2.user("iss"), account.StepEnroll)
		e, err := h2.svc.Enroll(h2.ctx, tok)
		mustNo(t, err)
		if e.Issuer != "Acme Corp" || !strings.Contains(e.URI, "issuer=Acme") {
			t.Fatalf("issuer %q uri %q", e.Issuer, e.URI)
		}
	})
}

func TestDisable(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("dan")
	sess := h.session(u)
	pending := h.mustSignIn(u, account.StepVerify)
	v, err := h.svc.SetDisabled(h.ctx, account.CLI, "dan", true)
	mustNo(t, err)
	if !v.Disabled {
		t.Fatal("view not disabled")
	}
	if h.alive(sess) || h.alive(pending) {
		t.Fatal("disabling left a session or sign-in")
	}
	if len(h.events("dan", "user.disabled")) != 1 {
		t.Fatal("not audited")
	}
	_, err = h.signIn("dan", goodPassword)
	wantCode(t, err, errs.AccountDisabled)
	_, err = h.svc.SetDisabled(h.ctx, account.CLI, "dan", false)
	mustNo(t, err)
	if h.alive(sess) || h.alive(pending) {
		t.Fatal("enabling again revived a session or sign-in that disabling ended")
	}
	sess = h.session(u)

	// Account state is never cached: disabled in the database by another process (no session
	// removal), the next request is refused.
	pending = h.mustSignIn(u, account.StepVerify)
	su := h.storeUser("dan")
	su.Disabled = true
	mustNo(t, h.db.UpdateUser(h.ctx, su))
	if _, err := h.svc.Authenticate(h.ctx, sess); errs.Code(err) != errs.NotSignedIn {
		t.Fatalf("a disabled account's session authenticates: %v", err)
	}
	_, err = h.svc.Verify(h.ctx, pending, h.codeAt(u.Key, 1), "")
	wantCode(t, err, errs.NotSignedIn)
	su.Disabled = false
	mustNo(t, h.db.UpdateUser(h.ctx, su))

	// An admin cannot disable the account they act as (their principal's actor).
	boss := h.createUser("boss", userSpec{Role: store.RoleAdmin})
	tok := h.mustSignIn(boss, account.StepEnroll)
	st := h.enrollAndVerify(boss, tok)
	_, err = h.svc.SetDisabled(h.ctx, h.principal(st.Token).Actor(), "boss", true)
	wantCode(t, err, errs.Conflict)

	// The command line disables any account, one named as it is too: "own account" is a
	// question of ids, never of names.
	h.user("cli")
	if v, err := h.svc.SetDisabled(h.ctx, account.CLI, "cli", true); err != nil || !v.Disabled {
		t.Fatalf("the command line disabling an account named cli = %+v, %v", v, err)
	}
}

func TestResetPassword(t *testing.T) {
	h := newHarness(t)
	u := h.enrolledUser("ron")
	sess := h.session(u)
	_, err := h.svc.ResetPassword(h.ctx, account.CLI, "ron")
	mustNo(t, err)
	if h.alive(sess) {
		t.Fatal("the session survived a password reset")
	}
	_, err = h.signIn("ron", goodPassword)
	wantCode(t, err, errs.InvalidCredentials) // the old password is void
	msgs := h.mail.to(u.Email)
	last := msgs[len(msgs)-1]
	if last.Subject != account.SubjectNewPassword {
		t.Fatalf("last mail %q", last.Subject)
	}
	u.Password = temporaryPasswordIn(t, last.Body)
	if su := h.storeUser("ron"); !su.PasswordTemporary || su.PasswordExpiresAt.Sub(h.clock.Now()) != 24*time.Hour {
		t.Fatalf("temporary %v until %v", su.PasswordTemporary, su.PasswordExpiresAt)
	}
	tok := h.mustSignIn(u, account.StepVerify)
	h.clock.Advance(30 * time.Second)
	st, err := h.svc.Verify(h.ctx, tok, h.codeAt(u.Key, 0), "")
	mustNo(t, err)
	if st.Next != account.StepChangePassword {
		t.Fatalf("next %q", st.Next)
	}
	if len(h.events("ron", "password.reset")) != 1 {
		t.Fatal("not audited")
	}

	h.createUser("sso", userSpec{Source: store.SourceSSO})
	_, err = h.svc.ResetPassword(h.ctx, account.CLI, "sso")
	wantCode(t, err, errs.Conflict)
	_, err = h.svc.ResetPassword(h.ctx, account.CLI, "nobody")
	wantCode(t, err, errs.NotFound)
}

func TestBootstrap(t *testing.T) {
	t.Run("creates the first admin once", func(t *testing.T) {
		h := newHarness(t)
		pw, err := h.svc.Bootstrap(h.ctx, "ops@example.com")
		mustNo(t, err)
		if pw == "" {
			t.Fatal("no temporary password")
		}
		su := h.storeUser("admin")
		if su.Role != store.RoleAdmin || su.Kind != store.KindInternal || su.Source != store.SourceLocal ||
			su.Email != "ops@example.com" || !su.PasswordTemporary {
			t.Fatalf("admin %+v", su)
		}
		if h.mail.count("ops@example.com", account.SubjectPasswordGenerated) != 1 ||
			h.mail.count("ops@example.com", account.SubjectNewPassword) != 1 {
			t.Fatal("bootstrap emails missing")
		}
		pw2, err := h.svc.Bootstrap(h.ctx, "ops@example.com")
		mustNo(t, err)
		if pw2 != "" {
			t.Fatal("second bootstrap made another admin")
		}
		if n, _ := h.db.CountUsers(h.ctx, ""); n != 1 {
			t.Fatalf("%d accounts", n)
		}
		h.mustSignIn(&testUser{Name: "admin", Password: pw}, account.StepEnroll)
	})

	t.Run("nothing when an admin exists", func(t *testing.T) {
		h := newHarness(t)
		h.user("plain") // a user is not an admin
		h.createUser("chief", userSpec{Role: store.RoleAdmin})
		pw, err := h.svc.Bootstrap(h.ctx, "ops@example.com")
		mustNo(t, err)
		if pw != "" {
			t.Fatal("bootstrap ran although an admin exists")
		}
		if _, err := h.db.UserByName(h.ctx, "admin"); err == nil {
			t.Fatal("admin created")
		}
	})

	t.Run("runs when only non-admins exist", func(t *testing.T) {
		h := newHarness(t)
		h.user("plain")
		pw, err := h.svc.Bootstrap(h.ctx, "ops@example.com")
		mustNo(t, err)
		if pw == "" || h.storeUser("admin").Role != store.RoleAdmin {
			t.Fatal("no admin made")
		}
	})
}

func TestAudit(t *testing.T) {
	h := newHarness(t)
	h.user("aud")
	h.user("other")
	_, err := h.svc.Audit(h.ctx, account.CLI, account.EventFilter{Limit: "-1"})
	wantCode(t, err, errs.Invalid)
	ev, err := h.svc.Audit(h.ctx, account.CLI, account.EventFilter{User: "AUD"})
	mustNo(t, err)
	if len(ev) != 1 || ev[0].User != "aud" || ev[0].Action != "user.created" || ev[0].Actor != "cli" {
		t.Fatalf("events %+v", ev)
	}
}

// TestSetOptionsAllOrNothing: a set of changes with one refused value saves none of them, and
// the refusal names the option it is about.
func TestSetOptionsAllOrNothing(t *testing.T) {
	h := newHarness(t)
	admin := account.Actor{Name: "root", Admin: true}
	_, err := h.svc.SetOptions(h.ctx, admin, map[string]string{
		options.InternalMFA: options.PolicyOptional,
		options.MFAIssuer:   "Acme\x1b]0;owned\x07",
	})
	wantCode(t, err, errs.Invalid)
	var bad account.OptionErrors
	if !errors.As(err, &bad) || len(bad) != 1 || bad[options.MFAIssuer] == nil {
		t.Fatalf("refusal %#v does not name %s alone", err, options.MFAIssuer)
	}
	if v, _ := h.db.Options(h.ctx); len(v) != 0 {
		t.Fatalf("a refused set saved %v", v)
	}
	changes, err := h.svc.CheckOptions(h.ctx, admin, map[string]string{
		options.InternalMFA: " Optional ", options.ExternalMFA: options.PolicyOptional})
	mustNo(t, err)
	if len(changes) != 1 || changes[0].Key != options.InternalMFA || changes[0].Old != options.PolicyRequired ||
		changes[0].New != options.PolicyOptional {
		t.Fatalf("changes %+v: want internalMFA required -> optional only (externalMFA is optional already)", changes)
	}
	if v, _ := h.db.Options(h.ctx); len(v) != 0 {
		t.Fatalf("CheckOptions saved %v", v)
	}
	changes, err = h.svc.SetOptions(h.ctx, admin, map[string]string{
		options.InternalMFA: options.PolicyOptional, options.MFAIssuer: "Acme"})
	mustNo(t, err)
	if len(changes) != 2 || len(h.events("", "option.changed")) != 2 {
		t.Fatalf("changes %+v, events %d", changes, len(h.events("", "option.changed")))
	}
	if _, err := h.svc.SetOptions(h.ctx, account.Actor{Name: "kim"}, map[string]string{options.MFAIssuer: "X"}); errs.Code(err) != errs.Forbidden {
		t.Fatalf("a user set options: %v", err)
	}
}
