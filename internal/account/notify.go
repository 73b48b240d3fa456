package account

import (
	"context"
	"fmt"
	"time"

	"github.com/twofold-auth/twofold/internal/mail"
	"github.com/twofold-auth/twofold/internal/store"
)

// Subjects of the account-creation emails (SPEC §1); scripts and people look for them.
const (
	SubjectPasswordGenerated = "Password Generated"
	SubjectNewPassword       = "New Password"
)

type notice int

const (
	noticeEnrolled notice = iota
	noticeReset
	noticeRegenerated
	noticeBackupUsed
	noticeBackupReplaced
	noticeLocked
	noticeKeyAdded
	noticeKeyRemoved
	noticeKeyCloned
)

var notices = map[notice]struct{ subject, text string }{
	noticeEnrolled:       {"Multi-factor authentication set up", "An authenticator app was set up as the second factor of your account"},
	noticeReset:          {"Multi-factor authentication reset", "An administrator reset the second factor of your account; at your next sign-in you will set up an authenticator app again"},
	noticeRegenerated:    {"New backup codes", "New backup codes were made for your account; every earlier code no longer works"},
	noticeBackupUsed:     {"Backup code used", "A backup code was used to sign in to your account"},
	noticeBackupReplaced: {"New backup code issued", "A new backup code was issued in place of the one used to sign in to your account"},
	noticeLocked:         {"Second factor locked", "Too many wrong codes were entered for your account, so its second factor is locked"},
	noticeKeyAdded:       {"Security key added", "A security key was added as a second factor of your account"},
	noticeKeyRemoved:     {"Security key removed", "A security key was removed from your account"},
	noticeKeyCloned:      {"Security key refused: possible cloned key", "A security key of your account was refused and disabled because its signature counter went backwards, which happens when a key was copied (possible cloned key)"},
}

// notify tells the account about an MFA change. The change is already committed; a mail that
// cannot be written is logged, not turned into a failed answer for a change that happened.
func (s *Service) notify(ctx context.Context, u *store.User, n notice) {
	if u.Email == "" {
		return
	}
	t := notices[n]
	body := fmt.Sprintf("Hello %s,\n\n%s on %s.\n\nIf this was not you, contact your administrator at once.\n",
		displayName(u), t.text, s.now().UTC().Format(time.RFC1123))
	if err := s.mailer.Send(ctx, mail.Message{To: u.Email, Subject: t.subject, Body: body}); err != nil {
		s.log.ErrorContext(ctx, "mail not sent", "user", u.Username, "subject", t.subject, "err", err)
	}
}

func displayName(u *store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

// sendPasswordGenerated is the first account-creation email: the username and where to sign in.
func (s *Service) sendPasswordGenerated(ctx context.Context, u *store.User) error {
	how := "Sign in with the temporary password from the \"New Password\" email."
	if u.Source == store.SourceSSO {
		how = "Sign in with \"Login with the identity provider\"."
	}
	body := fmt.Sprintf("Hello %s,\n\nAn account was made for you.\n\nUsername: %s\nSign in at: %s/signin\n\n%s\n",
		displayName(u), u.Username, s.baseURL, how)
	return s.mailer.Send(ctx, mail.Message{To: u.Email, Subject: SubjectPasswordGenerated, Body: body})
}

// sendNewPassword emails a temporary password.
func (s *Service) sendNewPassword(ctx context.Context, u *store.User, pw string, expires time.Time) error {
	body := fmt.Sprintf("Hello %s,\n\nTemporary password: %s\n\nIt works until %s. At your first sign-in you will choose a new password.\nSign in at: %s/signin\n",
		displayName(u), pw, expires.UTC().Format(time.RFC1123), s.baseURL)
	return s.mailer.Send(ctx, mail.Message{To: u.Email, Subject: SubjectNewPassword, Body: body})
}
