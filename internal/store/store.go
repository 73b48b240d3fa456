// Package store defines what Twofold keeps and the contract every storage backend honours.
//
// The account service talks to a Store only through these interfaces. Backends turn driver
// errors into the sentinel errors below; callers test them with errors.Is. Every backend passes
// the conformance suite in package storetest, concurrency cases included.
package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Sentinel errors returned by every backend.
var (
	// ErrNotFound means the row asked for does not exist (or, for a conditional write, that
	// the condition no longer holds because the row is gone).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique key is already taken or a conditional write lost a race.
	ErrConflict = errors.New("store: conflict")
)

// Account kinds, sources and roles (SPEC §1).
const (
	KindInternal = "internal"
	KindExternal = "external"

	SourceLocal = "local"
	SourceSSO   = "sso"

	RoleAdmin = "admin"
	RoleUser  = "user"
)

// User is one account with its password and second-factor state.
type User struct {
	ID       int64
	Username string // lower case, unique
	Email    string
	Name     string
	Kind     string
	Source   string
	Role     string
	Disabled bool

	// PasswordHash is the argon2id PHC string; empty for SSO accounts.
	PasswordHash string
	// PasswordTemporary is set while the password is an emailed temporary one;
	// PasswordExpiresAt is then when it stops working.
	PasswordTemporary bool
	PasswordExpiresAt time.Time

	// TOTPKey is the sealed (encrypted) TOTP key; nil when the account is not enrolled.
	TOTPKey []byte
	// TOTPKeyVersion is the version of the server key that sealed TOTPKey.
	TOTPKeyVersion int
	// TOTPLastStep is the last accepted TOTP time step; codes of this step or earlier are refused.
	TOTPLastStep int64
	// BackupSalt is the per-account salt mixed into backup-code MACs.
	BackupSalt []byte

	// MFAFailures counts failed second-factor checks since the last success or unlock.
	MFAFailures int
	// MFALockedUntil is the end of a temporary second-factor lock (zero when none).
	MFALockedUntil time.Time
	// MFALockedForever is a lock that only an admin ends.
	MFALockedForever bool

	// Groups are the names of the account's groups (SPEC §8), sorted and each once; nil when
	// none. Which names are allowed is the account service's rule.
	Groups []string

	// Subject is the account's stable random id for applications (the OpenID Connect sub),
	// made when the account is created and never changed.
	Subject string
	// EmailVerified is set once the account signed in with a temporary password mailed to
	// Email; changing Email clears it.
	EmailVerified bool

	CreatedAt time.Time

	// SecurityKey is set when the account holds a security key that is not disabled (SPEC
	// §9). It is read with the account (User, UserByName, UserBySubject, Users) and never
	// written by UpdateUser: keys are written through the WebAuthn queries.
	SecurityKey bool
}

// Enrolled reports whether the account has a TOTP key.
func (u *User) Enrolled() bool { return len(u.TOTPKey) > 0 }

// InGroup reports whether the account belongs to the group name.
func (u *User) InGroup(name string) bool {
	return slices.Contains(u.Groups, name)
}

// Session is a sign-in in progress or a finished session, bound to the cookie whose SHA-256
// hash is IDHash.
type Session struct {
	IDHash []byte
	UserID int64
	// Done marks a finished sign-in (a session proper).
	Done bool
	// MFAPassed is set once the second factor was proved (or enrolled) in this sign-in.
	MFAPassed bool
	// MFASkipped is set when the user chose "Skip for now" under an optional policy.
	MFASkipped bool
	// PendingKey is the sealed TOTP key offered for enrolment in this sign-in or session.
	PendingKey []byte
	// Reauthenticated is set on a session once the current password was proved for an enrolment
	// from the profile.
	Reauthenticated bool
	// SID is the session's stable id, kept while IDHash changes at every step: the sid of the
	// tokens issued to applications in it.
	SID string
	// AMR is how the person proved who they are in this sign-in (RFC 8176 values: "pwd", then
	// "otp" and "mfa" after a code), or what the identity provider reported for SSO.
	AMR []string
	// MFARequired is set when an application asked for a second factor the session has not
	// proved yet (step-up): the sign-in goes through verification or enrolment again.
	MFARequired bool
	// ReturnTo is where the person goes when the sign-in is done (an application's
	// authorization, a protected address); empty for the profile.
	ReturnTo string
	// DeviceRemembered is set when the password step came from a remembered device of the
	// account (SPEC §10): the sign-in skips the second factor that its policy asks for, but
	// not enrolment nor an application's demand (MFARequired).
	DeviceRemembered bool

	// CreatedAt is when the password (or the identity provider) was proved: the auth_time.
	CreatedAt time.Time
	// LastSeenAt is a session's last use; for a sign-in in progress, when it began: its
	// creation, or the step-up that sent a finished session back for a second factor.
	LastSeenAt time.Time
}

// WebAuthnCredential is a security key or passkey registered to an account (SPEC §9): what
// the WebAuthn library needs to check its assertions, and what the person sees of it.
type WebAuthnCredential struct {
	ID     int64
	UserID int64
	// CredentialID is the authenticator's id of the credential, unique among all accounts.
	CredentialID []byte
	// PublicKey is the credential's COSE public key.
	PublicKey []byte
	SignCount uint32
	// Transports are the transports the browser reported ("usb", "internal", ...).
	Transports []string
	// Flags are the authenticator data flags kept with the credential (user present and
	// verified, backup eligible, backup state), as the library checks them at every use.
	Flags           byte
	AttestationType string
	AAGUID          []byte
	Name            string
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero until first used
	// Disabled is set when the key's signature counter went backwards (a possible clone):
	// it is refused from then on, listed as such and removable.
	Disabled bool
}

// RememberedDevice is a browser whose second factor was proved with "Remember this device"
// ticked (SPEC §10): a later sign-in from it with the right password skips the second factor
// until ExpiresAt. Only the hash of the device cookie is kept.
type RememberedDevice struct {
	ID        int64
	UserID    int64
	TokenHash []byte
	// Label names the browser, from its user agent.
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until a sign-in used it
	ExpiresAt  time.Time
}

// CodeDrift is where an account's last wrong TOTP code matched (SPEC §10 "Clock drift"): the
// step Steps away from the server's clock (positive: the device's clock is ahead), which is
// TOTP step Step, found by the Failure-th failed second-factor check in a row. Step is 0 in a
// row written before it was kept.
type CodeDrift struct {
	Steps   int64
	Step    int64
	Failure int
}

// WebAuthnChallenge is a WebAuthn ceremony begun in a sign-in or session: the library's
// session data (JSON) and when it was made.
type WebAuthnChallenge struct {
	Data      []byte
	CreatedAt time.Time
}

// Event is one audit record.
type Event struct {
	ID     int64
	At     time.Time
	Actor  string // who did it: a username, or "cli"/"system"
	User   string // the account concerned, if any
	Action string
	Detail string
}

// EventFilter narrows an audit listing. Zero fields do not filter; Limit 0 means 100; at most
// 1000 are returned.
type EventFilter struct {
	User   string
	Action string
	Limit  int
}

// BackupCode is one stored backup code: only its MAC is kept.
type BackupCode struct {
	MAC    []byte
	UsedAt time.Time // zero while unused
}

// PasswordFailures is what the store keeps of one name key's password failures. The store
// only reads and writes it; when failures lock, and for how long, is the account service's
// rule.
type PasswordFailures struct {
	Failures    int
	LockedUntil time.Time // zero when not locked
	// CountsUntil is when the row stops counting: from then on it reads as none, and later
	// writes remove it.
	CountsUntil time.Time
}

// PruneBatch bounds the rows that no longer count one write removes beside its own, so that a
// write after a long quiet time does not pay for the whole backlog.
const PruneBatch = 1000

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Client is an application registered to sign people in through Twofold (SPEC §7).
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 of the client secret; nil for a public client.
	SecretHash             []byte
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	RequireMFA             bool
	SkipConsent            bool
	// Groups, when not empty, are the only groups whose members may sign in to the client.
	Groups    []string
	CreatedAt time.Time
}

// AuthRequest is an application's authorization request, from its arrival until its code has
// expired. Request is the validated request as the provider keeps it (JSON); the rest is set
// when a sign-in meets it and when its code is issued and redeemed.
type AuthRequest struct {
	ID        string
	ClientID  string
	Request   []byte
	CreatedAt time.Time

	Done     bool
	UserID   int64
	SID      string
	AuthTime time.Time
	AMR      []string
	// CodeHash is the SHA-256 of the code issued for the request (nil before), and
	// CodeExpiresAt when that code stops working.
	CodeHash      []byte
	CodeExpiresAt time.Time
	// Redeemed is set when the code was exchanged; Replayed when it was presented again, after
	// which no token may be issued from it.
	Redeemed bool
	Replayed bool
}

// Token is an access or refresh token issued to a client, kept only as the SHA-256 of its
// secret part. Family names the grant it came from (the authorization request's id): a
// replayed code or refresh token revokes its whole family.
type Token struct {
	IDHash    []byte
	Kind      string // TokenAccess or TokenRefresh
	Family    string
	ClientID  string
	UserID    int64
	SID       string
	Scopes    []string
	AMR       []string
	AuthTime  time.Time
	ExpiresAt time.Time
	// Used is set on a refresh token once it was exchanged for a new one.
	Used      bool
	CreatedAt time.Time
}

// TokenFilter selects tokens to revoke; zero fields do not filter, and at least one must be
// set.
type TokenFilter struct {
	Family   string
	ClientID string
	UserID   int64
	SID      string
}

// Consent is what a person allowed a client to ask for.
type Consent struct {
	UserID    int64
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// SigningKey is a key that signs ID tokens, sealed with the server key. The newest key not
// retired signs; a retired key stays published until RetiredAt plus the longest token life.
type SigningKey struct {
	ID         string
	Sealed     []byte
	KeyVersion int
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while it signs
}

// LogoutNotice is a back-channel logout waiting to be sent (SPEC §7 "Logout"): the client is
// told that the session sid of the account with Subject has ended. NextAt is when it is due;
// a deliverer moves it on as it claims the notice (ClaimLogoutNotice) and after a failure.
type LogoutNotice struct {
	ID       int64
	ClientID string
	// UserID names the account for the audit trail; Subject is what the logout token says.
	UserID    int64
	Subject   string
	SID       string
	CreatedAt time.Time
	Attempts  int
	NextAt    time.Time
	LastError string
}

// EndedSessionClient is the record that a client received tokens in the session SID of an
// account, removed because the session has ended (DeleteEndedSessionClients). Subject is the
// account's application subject, read with the record so that telling the client locks no
// account.
type EndedSessionClient struct {
	SID      string
	ClientID string
	UserID   int64
	Subject  string
}

// LockUser locks the account id until the transaction of q ends, as reading it with User does
// inside Update. An account that is gone is no error: whatever the lock was to guard went with
// it. A transaction that locks an account with other rows takes the account first.
func LockUser(ctx context.Context, q Queries, id int64) error {
	if _, err := q.User(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// Queries are the operations a backend offers, inside a transaction (see Store.Update) or on
// their own, where each is atomic by itself.
type Queries interface {
	// CreateUser inserts u and sets u.ID; when u.Subject is empty it makes a random one and
	// sets it. Groups are stored sorted and each once. ErrConflict when the username (or the
	// subject) is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns the account with id. Inside Update it also locks the row until commit, so
	// that reading and writing an account's counters cannot interleave with another transaction.
	User(ctx context.Context, id int64) (*User, error)
	// UserByName returns the account with the lower-case username.
	UserByName(ctx context.Context, username string) (*User, error)
	// Users lists every account, newest first (by CreatedAt, then ID).
	Users(ctx context.Context) ([]*User, error)
	// CountUsers counts accounts with the role ("" for all).
	CountUsers(ctx context.Context, role string) (int, error)
	// UpdateUser writes every field of u except ID, Username, BackupSalt, Subject and
	// CreatedAt; Groups are stored sorted and each once. ErrNotFound when the account does not
	// exist.
	UpdateUser(ctx context.Context, u *User) error

	// SetTOTPStep records step as the last accepted TOTP step when it is later than the stored
	// one, in one conditional write; false when it is not (a replay). ErrNotFound when the
	// account does not exist.
	SetTOTPStep(ctx context.Context, userID, step int64) (bool, error)

	// CodeDrift answers the offset of the account's last wrong TOTP code (SPEC §10 "Clock
	// drift"); ErrNotFound when none is kept.
	CodeDrift(ctx context.Context, userID int64) (CodeDrift, error)
	// SetCodeDrift keeps d as the account's last wrong code's offset, replacing any.
	SetCodeDrift(ctx context.Context, userID int64, d CodeDrift) error
	// DeleteCodeDrift forgets the account's offset, if any.
	DeleteCodeDrift(ctx context.Context, userID int64) error

	// AddBackupCodes stores MACs as unused codes of the account.
	AddBackupCodes(ctx context.Context, userID int64, macs [][]byte) error
	// DeleteBackupCodes removes every code of the account, used or not.
	DeleteBackupCodes(ctx context.Context, userID int64) error
	// UseBackupCode marks the unused code with mac as used at now, in one conditional write;
	// false when there is no such unused code.
	UseBackupCode(ctx context.Context, userID int64, mac []byte, now time.Time) (bool, error)
	// CountBackupCodes counts the account's unused codes.
	CountBackupCodes(ctx context.Context, userID int64) (int, error)

	// Password failures are kept per name key: the caller's MAC of the submitted username
	// (keys.UsernameMAC), never the username itself.

	// PasswordFailures answers the name key's row while it counts at now (CountsUntil after
	// now), and the zero value when there is none or it stopped counting, whether or not a
	// later write has removed it yet. Inside Update it also locks the name key until commit,
	// row or not, so that of transactions counting one name's failures at once each reads what
	// the one before it wrote.
	PasswordFailures(ctx context.Context, nameKey []byte, now time.Time) (PasswordFailures, error)
	// SetPasswordFailures writes the name key's row as f, and removes up to PruneBatch rows of
	// other names that stopped counting at or before now.
	SetPasswordFailures(ctx context.Context, nameKey []byte, f PasswordFailures, now time.Time) error
	// ClearPasswordFailures forgets the name key's failures and lock.
	ClearPasswordFailures(ctx context.Context, nameKey []byte) error

	// ReserveAddressAttempt counts one password attempt from addr at now before its password
	// is checked, unless addr has limit (> 0) attempts after since already: then it writes
	// nothing and answers false. The count and the write are one atomic step on every backend,
	// so that of attempts sent at once, to one instance or several, exactly limit pass. It
	// also removes up to PruneBatch attempts of any address at or before since. The answered
	// id names the attempt for ReleaseAddressAttempt; an attempt left in place is a failure.
	ReserveAddressAttempt(ctx context.Context, addr string, now, since time.Time, limit int) (id int64, ok bool, err error)
	// ReleaseAddressAttempt forgets the attempt id (a right password, or an attempt that was
	// never checked): only failures count. No error when it is gone already.
	ReleaseAddressAttempt(ctx context.Context, id int64) error
	// CountAddressFailures counts addr's attempts after since.
	CountAddressFailures(ctx context.Context, addr string, since time.Time) (int, error)

	// CreateSession inserts s. ErrConflict when the id hash exists.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with the id hash. Inside Update it also locks the row until
	// commit, so that two requests of one sign-in that read and then write it take turns.
	Session(ctx context.Context, idHash []byte) (*Session, error)
	// SessionUser returns the session with the id hash and its account, read together, as
	// Session and User would answer them (ErrNotFound when either is missing). Inside Update it
	// locks the account until commit, as User does, and not the session: a transaction that
	// writes the session writes it conditionally (ReplaceSession) or reads it with Session.
	SessionUser(ctx context.Context, idHash []byte) (*Session, *User, error)
	// ReplaceSession writes s in place of the session with oldHash (s.IDHash may differ: the id
	// changes at every step). ErrNotFound when oldHash is gone, so that of two requests racing
	// on one sign-in only one moves it on, and when s.UserID or s.SID is not the session's: a
	// session keeps its account and its sid for life.
	ReplaceSession(ctx context.Context, oldHash []byte, s *Session) error
	// TouchSession sets the session's last use. ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	// DeleteSession removes one session; no error when it is gone already.
	DeleteSession(ctx context.Context, idHash []byte) error
	// SessionSIDs answers the sids of every session and sign-in of the account but the one
	// with keepHash (nil keeps none), each once and sorted: the sessions DeleteUserSessions
	// ends, whose applications are told (SPEC §7 "Logout").
	SessionSIDs(ctx context.Context, userID int64, keepHash []byte) ([]string, error)
	// DeleteUserSessions removes every session and sign-in of the account but the one with
	// keepHash (nil keeps none).
	DeleteUserSessions(ctx context.Context, userID int64, keepHash []byte) error
	// DeleteExpiredSessions removes sign-ins begun (LastSeenAt) before signinBefore, sessions
	// last used before idleBefore, and sessions and sign-ins created before createdBefore.
	DeleteExpiredSessions(ctx context.Context, signinBefore, idleBefore, createdBefore time.Time) (int, error)

	// Options answers every stored option value by key.
	Options(ctx context.Context) (map[string]string, error)
	// LockOptions takes the options' lock, inside Update until commit, and answers every
	// stored value as it is then: a change of options takes it before it reads what it
	// changes, so that two changes at once take turns, and each audits the value the other
	// left.
	LockOptions(ctx context.Context) (map[string]string, error)
	// SetOption stores value under key.
	SetOption(ctx context.Context, key, value string) error

	// AddEvent appends an audit event.
	AddEvent(ctx context.Context, e *Event) error
	// Events lists audit events, newest first.
	Events(ctx context.Context, f EventFilter) ([]*Event, error)

	// UserBySubject returns the account with the application subject id.
	UserBySubject(ctx context.Context, subject string) (*User, error)

	// Applications (SPEC §7).

	// CreateClient inserts c. ErrConflict when the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	// Client returns the client with id.
	Client(ctx context.Context, id string) (*Client, error)
	// Clients lists every client, newest first.
	Clients(ctx context.Context) ([]*Client, error)
	// UpdateClient writes every field of c except ID and CreatedAt. ErrNotFound when gone.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client with its authorization requests, tokens, consents,
	// session records and logout notices. ErrNotFound when it does not exist.
	DeleteClient(ctx context.Context, id string) error

	// CreateAuthRequest inserts a. ErrConflict when the id is taken.
	CreateAuthRequest(ctx context.Context, a *AuthRequest) error
	// AuthRequest returns the request with id. Inside Update it also locks the row until
	// commit.
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// AuthRequestByCode returns the request whose code has the hash. Inside Update it also
	// locks the row until commit.
	AuthRequestByCode(ctx context.Context, codeHash []byte) (*AuthRequest, error)
	// UpdateAuthRequest writes every field of a except ID, ClientID, Request and CreatedAt.
	// ErrNotFound when gone; ErrConflict when the code hash is taken.
	UpdateAuthRequest(ctx context.Context, a *AuthRequest) error
	// DeleteAuthRequest removes one request; no error when it is gone already.
	DeleteAuthRequest(ctx context.Context, id string) error
	// DeleteUnredeemedCodes removes the account's finished requests whose code has not been
	// redeemed (of the client only, when clientID is not empty) and answers how many: their
	// codes can no longer be exchanged, and a code not written yet can no longer be written.
	// Redeemed requests stay, so that a replay of their code is still recognised.
	DeleteUnredeemedCodes(ctx context.Context, userID int64, clientID string) (int, error)
	// DeleteExpiredAuthRequests removes requests created before before and answers how many.
	DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error)

	// CreateToken inserts t. ErrConflict when the hash is taken.
	CreateToken(ctx context.Context, t *Token) error
	// Token returns the token with the hash, expired or not. Inside Update it also locks the
	// row until commit.
	Token(ctx context.Context, idHash []byte) (*Token, error)
	// UseToken marks an unused refresh token used, in one conditional write; false when it
	// was used already. ErrNotFound when it does not exist.
	UseToken(ctx context.Context, idHash []byte) (bool, error)
	// DeleteToken removes one token; no error when it is gone already.
	DeleteToken(ctx context.Context, idHash []byte) error
	// DeleteTokens removes every token that matches f (all its set fields) and answers how
	// many. A filter with no field set is refused.
	DeleteTokens(ctx context.Context, f TokenFilter) (int, error)
	// DeleteExpiredTokens removes tokens that expired before before and answers how many.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error)
	// TokenClients answers the ids of the clients that hold a token of the account that
	// expires after now, sorted.
	TokenClients(ctx context.Context, userID int64, now time.Time) ([]string, error)

	// Consent returns what the person allowed the client; ErrNotFound when nothing.
	Consent(ctx context.Context, userID int64, clientID string) (*Consent, error)
	// SetConsent writes c in place of any consent of the same person and client.
	SetConsent(ctx context.Context, c *Consent) error
	// DeleteConsent removes the consent; ErrNotFound when there is none.
	DeleteConsent(ctx context.Context, userID int64, clientID string) error
	// Consents lists the person's consents, newest first.
	Consents(ctx context.Context, userID int64) ([]*Consent, error)

	// SigningKeys lists every signing key, newest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// CreateSigningKey inserts k. ErrConflict when the id is taken.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// RetireSigningKeys sets RetiredAt to at on every key not retired yet but keepID.
	RetireSigningKeys(ctx context.Context, keepID string, at time.Time) error
	// DeleteSigningKeys removes keys retired before before.
	DeleteSigningKeys(ctx context.Context, before time.Time) error

	// AddSessionClient records, made at at, that the client received tokens in the session
	// sid of the account; no error when it is recorded already (the first record stays).
	AddSessionClient(ctx context.Context, sid, clientID string, userID int64, at time.Time) error
	// SessionClients answers the ids of the clients recorded for sid, sorted.
	SessionClients(ctx context.Context, sid string) ([]string, error)
	// DeleteSessionClients forgets the records of sid and answers the ids of the clients
	// whose records it removed, sorted: of transactions removing one record at once, on any
	// number of instances, one alone is answered it (the one that tells the client).
	DeleteSessionClients(ctx context.Context, sid string) ([]string, error)
	// DeleteEndedSessionClients removes up to limit records, the oldest first, whose sid is no
	// session's or sign-in's any more (a session that expired), and answers the records it
	// removed: of sweeps running at once, on any number of instances, each record is answered
	// to one alone.
	DeleteEndedSessionClients(ctx context.Context, limit int) ([]*EndedSessionClient, error)
	// DeleteExpiredSessionClients removes records made before before.
	DeleteExpiredSessionClients(ctx context.Context, before time.Time) (int, error)

	// Back-channel logout notices (SPEC §7 "Logout"): a durable queue that every instance
	// delivers from.

	// AddLogoutNotice inserts n and sets n.ID.
	AddLogoutNotice(ctx context.Context, n *LogoutNotice) error
	// DueLogoutNotices answers up to limit notices due at now (NextAt at or before it), the
	// earliest due first.
	DueLogoutNotices(ctx context.Context, now time.Time, limit int) ([]*LogoutNotice, error)
	// ClaimLogoutNotice moves the notice's NextAt from oldNextAt to newNextAt in one
	// conditional write, and answers whether it did: of deliverers claiming one notice at
	// once, on any number of instances, exactly one gets true and sends it. False too when the
	// notice is gone.
	ClaimLogoutNotice(ctx context.Context, id int64, oldNextAt, newNextAt time.Time) (bool, error)
	// DeleteLogoutNotice removes the notice; no error when it is gone already.
	DeleteLogoutNotice(ctx context.Context, id int64) error
	// RetryLogoutNotice records a failed attempt: the attempts so far, when the notice is due
	// again and the last error. ErrNotFound when the notice is gone (its client was removed).
	RetryLogoutNotice(ctx context.Context, id int64, attempts int, nextAt time.Time, lastErr string) error
	// CountLogoutNotices counts the notices waiting.
	CountLogoutNotices(ctx context.Context) (int, error)

	// Security keys (SPEC §9).

	// AddWebAuthnCredential inserts c and sets c.ID. ErrConflict when the credential id is
	// registered already (to any account).
	AddWebAuthnCredential(ctx context.Context, c *WebAuthnCredential) error
	// WebAuthnCredentials lists the account's keys, disabled ones included, oldest first.
	WebAuthnCredentials(ctx context.Context, userID int64) ([]*WebAuthnCredential, error)
	// UpdateWebAuthnCredential writes c's SignCount, Flags, LastUsedAt and Disabled.
	// ErrNotFound when the key is gone.
	UpdateWebAuthnCredential(ctx context.Context, c *WebAuthnCredential) error
	// DeleteWebAuthnCredential removes the account's key id. ErrNotFound when the account has
	// no such key.
	DeleteWebAuthnCredential(ctx context.Context, userID, id int64) error
	// DeleteWebAuthnCredentials removes every key of the account.
	DeleteWebAuthnCredentials(ctx context.Context, userID int64) error
	// PutWebAuthnChallenge stores c as the one challenge of the sign-in or session with the
	// id hash, in place of any earlier one, and removes up to PruneBatch challenges of any
	// session made before pruneBefore.
	PutWebAuthnChallenge(ctx context.Context, idHash []byte, c WebAuthnChallenge, pruneBefore time.Time) error
	// TakeWebAuthnChallenge removes the challenge of the id hash and answers it, in one
	// conditional write: of requests taking one challenge at once, on any number of
	// instances, exactly one gets it and the others ErrNotFound, as does a session without one.
	TakeWebAuthnChallenge(ctx context.Context, idHash []byte) (WebAuthnChallenge, error)

	// Remembered devices (SPEC §10).

	// AddRememberedDevice inserts d and sets d.ID, and removes up to PruneBatch devices of any
	// account that expired before pruneBefore. ErrConflict when the token hash is stored
	// already.
	AddRememberedDevice(ctx context.Context, d *RememberedDevice, pruneBefore time.Time) error
	// RememberedDevice answers the device with the token hash; ErrNotFound when there is none.
	RememberedDevice(ctx context.Context, tokenHash []byte) (*RememberedDevice, error)
	// RememberedDevices lists the account's devices, expired ones included, oldest first.
	RememberedDevices(ctx context.Context, userID int64) ([]*RememberedDevice, error)
	// TouchRememberedDevice writes the device's LastUsedAt. ErrNotFound when it is gone.
	TouchRememberedDevice(ctx context.Context, id int64, at time.Time) error
	// DeleteRememberedDevice removes the account's device id. ErrNotFound when the account
	// has no such device.
	DeleteRememberedDevice(ctx context.Context, userID, id int64) error
	// DeleteRememberedDevices removes every device of the account and answers how many.
	DeleteRememberedDevices(ctx context.Context, userID int64) (int, error)

	// Meta answers a value of the store's own metadata; ErrNotFound when unset.
	Meta(ctx context.Context, key string) (string, error)
	// SetMetaOnce stores value under key unless a value is there, and answers the value that
	// is stored afterwards.
	SetMetaOnce(ctx context.Context, key, value string) (string, error)

	// Access rules of forward auth (SPEC §8).
	AccessRuleQueries
}

// Store is a storage backend.
type Store interface {
	Queries
	// Update runs fn in one read-write transaction and commits it when fn returns nil. Accounts
	// read with User (and sessions read with Session, authorization requests with AuthRequest
	// or AuthRequestByCode, tokens with Token) inside fn are locked against other Update calls,
	// of this process or any other on the same database, until it ends. fn must use q only:
	// calling the Store's own methods inside fn may deadlock.
	Update(ctx context.Context, fn func(q Queries) error) error
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
