package account

// Security keys and passkeys (SPEC §9), with go-webauthn/webauthn: the relying party, the
// ceremonies begun and finished in a sign-in or from the profile, and the keys' list. Proving a
// second factor with a key is one more proof (keyAssertion, keyRegistration) of the one
// checkSecondFactor (secondfactor.go): the same counting, lock, audit and notices as a code.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/store"
)

// ChallengeLifetime is how long a begun ceremony may be finished (SPEC §9).
const ChallengeLifetime = 5 * time.Minute

// Kinds of ceremony a challenge was begun for: a challenge answers only its own kind.
const (
	ceremonyLogin    = "login"
	ceremonyEnroll   = "enroll"
	ceremonyRegister = "register"
	// ceremonyProve: a signed-in account proves its second factor with a key (regenerating
	// backup codes, removing a key).
	ceremonyProve = "prove"
)

// maxKeyName bounds a key's name, in characters.
const maxKeyName = 64

// defaultKeyName names a key registered at enrolment, where no name is asked.
const defaultKeyName = "Security key"

// relyingParty answers the WebAuthn relying party of base URL and cookie domain (SPEC §9): its
// id is the cookie domain when given, else the base URL's host; the only origin accepted is
// the base URL's. It answers nil when the id is not a domain name or localhost (browsers refuse
// IP addresses), and then no key is offered.
func relyingParty(baseURL, cookieDomain string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, nil
	}
	id := strings.ToLower(u.Hostname())
	if cookieDomain != "" {
		id = cookieDomain
	}
	if id == "" || net.ParseIP(id) != nil {
		return nil, nil
	}
	return webauthn.New(&webauthn.Config{
		RPID:                  id,
		RPDisplayName:         "Twofold",
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			UserVerification: protocol.VerificationPreferred,
			ResidentKey:      protocol.ResidentKeyRequirementDiscouraged,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeLifetime},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeLifetime},
		},
	})
}

// keyUser is an account as the library sees it: its user handle is the account's subject (a
// random id that never changes), and its credentials are its keys not disabled.
type keyUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (k keyUser) WebAuthnID() []byte                         { return []byte(k.u.Subject) }
func (k keyUser) WebAuthnName() string                       { return k.u.Username }
func (k keyUser) WebAuthnDisplayName() string                { return displayName(k.u) }
func (k keyUser) WebAuthnCredentials() []webauthn.Credential { return k.creds }

var _ webauthn.User = keyUser{}

// newKeyUser answers u with its usable keys.
func newKeyUser(u *store.User, keys []*store.WebAuthnCredential) keyUser {
	k := keyUser{u: u}
	for _, c := range keys {
		if !c.Disabled {
			k.creds = append(k.creds, libraryCredential(c))
		}
	}
	return k
}

// libraryCredential is a stored key as the library checks it: with its flags, so that the
// backup eligible flag it was registered with is compared at every use.
func libraryCredential(c *store.WebAuthnCredential) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: c.CredentialID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		Transport: ts, Flags: webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(c.Flags)),
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount}}
}

// flagsOf answers the flags the store keeps of a credential.
func flagsOf(f webauthn.CredentialFlags) byte {
	var b protocol.AuthenticatorFlags
	if f.UserPresent {
		b |= protocol.FlagUserPresent
	}
	if f.UserVerified {
		b |= protocol.FlagUserVerified
	}
	if f.BackupEligible {
		b |= protocol.FlagBackupEligible
	}
	if f.BackupState {
		b |= protocol.FlagBackupState
	}
	return byte(b)
}

// ceremony is what a challenge keeps: its kind, the key's name for a registration, and the
// library's session data.
type ceremony struct {
	Kind    string               `json:"kind"`
	Name    string               `json:"name,omitempty"`
	Session webauthn.SessionData `json:"session"`
}

var (
	errKeysOff = errs.E(errs.Forbidden, "Security keys are turned off.")
	errNoRP    = errs.E(errs.Forbidden, "Security keys need this server to be reached by a domain name (or localhost), not an IP address.")
	errNoKey   = errs.E(errs.Conflict, "This account has no security key.")
)

// keysAllowed refuses with 403 forbidden while keys are turned off or cannot work here.
func (s *Service) keysAllowed(o *options.Values) error {
	switch {
	case !o.WebAuthnEnabled():
		return errKeysOff
	case s.wa == nil:
		return errNoRP
	}
	return nil
}

// putChallenge keeps c as the one challenge of the sign-in or session with idHash.
func (s *Service) putChallenge(ctx context.Context, idHash []byte, c ceremony) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	now := s.now()
	return s.store.PutWebAuthnChallenge(ctx, idHash, store.WebAuthnChallenge{Data: data, CreatedAt: now}, now.Add(-ChallengeLifetime))
}

// takeChallenge uses up the challenge of idHash and answers it when it is of kind and still
// alive; nil when there is none, it is of another kind or it expired.
func (s *Service) takeChallenge(ctx context.Context, q store.Queries, idHash []byte, kind string) (*ceremony, error) {
	ch, err := q.TakeWebAuthnChallenge(ctx, idHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.now().Sub(ch.CreatedAt) > ChallengeLifetime {
		return nil, nil
	}
	var c ceremony
	if err := json.Unmarshal(ch.Data, &c); err != nil || c.Kind != kind {
		return nil, nil
	}
	return &c, nil
}

// KeysOffered reports whether security keys can be used here now: mfaWebAuthn yes and a
// relying party id that is a domain name or localhost.
func (s *Service) KeysOffered(ctx context.Context) (bool, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return false, err
	}
	return s.keysAllowed(o) == nil, nil
}

// Sign in with a key (Verification Required).

// BeginKeySignIn begins signing in with a security key at Verification Required: it answers
// the options of navigator.credentials.get for the account's usable keys.
func (s *Service) BeginKeySignIn(ctx context.Context, token string) (*protocol.CredentialAssertion, error) {
	si, err := s.load(ctx, token, StepVerify)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(si.opts); err != nil {
		return nil, err
	}
	if SecondFactorLockedAt(si.user, s.now()) {
		return nil, secondFactorLocked(si.user)
	}
	keys, err := s.store.WebAuthnCredentials(ctx, si.user.ID)
	if err != nil {
		return nil, err
	}
	ku := newKeyUser(si.user, keys)
	if len(ku.creds) == 0 {
		return nil, &errs.Error{Code: errs.Conflict, Next: si.next, Message: errNoKey.Error()}
	}
	opts, sd, err := s.wa.BeginLogin(ku, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin key sign-in: %w", err)
	}
	if err := s.putChallenge(ctx, si.sess.IDHash, ceremony{Kind: ceremonyLogin, Session: *sd}); err != nil {
		return nil, err
	}
	return opts, nil
}

// parseAssertion reads a credential of navigator.credentials.get as the browser returns it;
// one that cannot be read is malformed (400, neither checked nor counted).
func parseAssertion(credential []byte) (*protocol.ParsedCredentialAssertionData, error) {
	p, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, errs.E(errs.Invalid, "The security key's answer could not be read: send the credential as the browser returns it.")
	}
	return p, nil
}

// FinishKeySignIn checks the assertion against the sign-in's challenge, as VerifyDevice checks
// a code, answers the next step, and remembers the browser when dev asks for it (SPEC §10).
func (s *Service) FinishKeySignIn(ctx context.Context, token string, credential []byte, dev DeviceRequest) (Step, error) {
	parsed, err := parseAssertion(credential)
	if err != nil {
		return Step{}, err
	}
	p := &keyAssertion{parsed: parsed, idHash: hashToken(token), kind: ceremonyLogin}
	step, u, err := s.verifySignIn(ctx, token, p, dev)
	s.clonedKey(ctx, u, p.cloned) // a cloned key was checked: u is its account
	if err != nil {
		return Step{}, err
	}
	return step, nil
}

// keyAssertion is a security key's answer to the challenge of the sign-in or session idHash.
type keyAssertion struct {
	parsed *protocol.ParsedCredentialAssertionData
	idHash []byte
	// kind is the ceremony the challenge was begun for: ceremonyLogin or ceremonyProve.
	kind string
	// cloned is the key refused because its counter went backwards, to be mailed after commit.
	cloned *store.WebAuthnCredential
}

func (*keyAssertion) method() Method { return MethodSecurityKey }

// check uses up the challenge (a refusal too), lets the library verify the assertion, and
// writes the key's new counter and last use. A counter that went backwards (a possible clone)
// disables the key and is audited; the refusal is counted like any other.
func (p *keyAssertion) check(ctx context.Context, s *Service, q store.Queries, u *store.User, now time.Time) (bool, error) {
	p.cloned = nil
	c, err := s.takeChallenge(ctx, q, p.idHash, p.kind)
	if err != nil || c == nil {
		return false, err
	}
	keys, err := q.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return false, err
	}
	cred, err := s.wa.ValidateLogin(newKeyUser(u, keys), c.Session, p.parsed)
	if err != nil {
		s.log.InfoContext(ctx, "security key refused", "user", u.Username, "reason", protocolReason(err))
		return false, nil
	}
	var key *store.WebAuthnCredential
	for _, k := range keys {
		if !k.Disabled && string(k.CredentialID) == string(cred.ID) {
			key = k
		}
	}
	if key == nil {
		return false, nil
	}
	if cred.Authenticator.CloneWarning {
		key.Disabled = true
		if err := q.UpdateWebAuthnCredential(ctx, key); err != nil {
			return false, err
		}
		p.cloned = key
		return false, s.audit(ctx, q, "system", u.Username, "mfa.security_key_cloned",
			fmt.Sprintf("key %q disabled: its signature counter went backwards (%d after %d), possible cloned key",
				key.Name, p.parsed.Response.AuthenticatorData.Counter, key.SignCount))
	}
	key.SignCount, key.Flags, key.LastUsedAt = cred.Authenticator.SignCount, flagsOf(cred.Flags), now
	return true, q.UpdateWebAuthnCredential(ctx, key)
}

// clonedKey mails the account about a key refused as a possible clone, once the refusal is
// committed.
func (s *Service) clonedKey(ctx context.Context, u *store.User, key *store.WebAuthnCredential) {
	if key != nil {
		s.notify(ctx, u, noticeKeyCloned)
	}
}

// protocolReason answers what the library said of a refused ceremony, for the log (never the
// credential itself).
func protocolReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details
	}
	return err.Error()
}

// Registration: at enrolment and from the profile.

// beginRegistration answers the options of navigator.credentials.create for a new key of u,
// excluding the keys it holds, and keeps the challenge with the session idHash.
func (s *Service) beginRegistration(ctx context.Context, idHash []byte, u *store.User, kind, name string) (*protocol.CredentialCreation, error) {
	keys, err := s.store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(keys))
	for _, k := range keys {
		c := libraryCredential(k)
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := s.wa.BeginRegistration(newKeyUser(u, nil), webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("begin key registration: %w", err)
	}
	if err := s.putChallenge(ctx, idHash, ceremony{Kind: kind, Name: name, Session: *sd}); err != nil {
		return nil, err
	}
	return opts, nil
}

// parseCreation reads a credential of navigator.credentials.create as the browser returns it.
func parseCreation(credential []byte) (*protocol.ParsedCredentialCreationData, error) {
	p, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, errs.E(errs.Invalid, "The security key's answer could not be read: send the credential as the browser returns it.")
	}
	return p, nil
}

// keyRegistration is a new key's answer to the enrolment challenge of the sign-in idHash: a
// proof like a first code, whose failure counts.
type keyRegistration struct {
	parsed *protocol.ParsedCredentialCreationData
	idHash []byte
	kind   string
}

func (*keyRegistration) method() Method { return MethodSecurityKey }

func (p *keyRegistration) check(ctx context.Context, s *Service, q store.Queries, u *store.User, now time.Time) (bool, error) {
	c, err := s.takeChallenge(ctx, q, p.idHash, p.kind)
	if err != nil || c == nil {
		return false, err
	}
	key, err := s.registered(ctx, q, u, c, p.parsed, now)
	return key != nil, err
}

// registered lets the library verify a registration against its ceremony and stores the key;
// nil when it is refused (a key registered already among them).
func (s *Service) registered(ctx context.Context, q store.Queries, u *store.User, c *ceremony,
	parsed *protocol.ParsedCredentialCreationData, now time.Time) (*store.WebAuthnCredential, error) {
	cred, err := s.wa.CreateCredential(newKeyUser(u, nil), c.Session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "security key registration refused", "user", u.Username, "reason", protocolReason(err))
		return nil, nil
	}
	ts := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		ts[i] = string(t)
	}
	key := &store.WebAuthnCredential{UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, Transports: ts, Flags: flagsOf(cred.Flags),
		AttestationType: cred.AttestationType, AAGUID: cred.Authenticator.AAGUID, Name: c.Name, CreatedAt: now}
	if err := q.AddWebAuthnCredential(ctx, key); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, nil
		}
		return nil, err
	}
	return key, nil
}

// BeginKeyEnroll begins enrolment with a security key instead of an authenticator app.
func (s *Service) BeginKeyEnroll(ctx context.Context, token string) (*protocol.CredentialCreation, error) {
	si, err := s.load(ctx, token, StepEnroll, StepEnrollOptional)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(si.opts); err != nil {
		return nil, err
	}
	return s.beginRegistration(ctx, si.sess.IDHash, si.user, ceremonyEnroll, defaultKeyName)
}

// FinishKeyEnroll registers the sign-in's first key and enrols the account as VerifyEnroll
// does: the key, backup codes and the step in one transaction.
func (s *Service) FinishKeyEnroll(ctx context.Context, token string, credential []byte) (Step, error) {
	parsed, err := parseCreation(credential)
	if err != nil {
		return Step{}, err
	}
	si, err := s.load(ctx, token, StepEnroll, StepEnrollOptional)
	if err != nil {
		return Step{}, err
	}
	if err := s.keysAllowed(si.opts); err != nil {
		return Step{}, err
	}
	p := &keyRegistration{parsed: parsed, idHash: si.sess.IDHash, kind: ceremonyEnroll}
	var step Step
	err = s.checkSecondFactor(ctx, factorCheck{proof: p,
		load: s.readAccount(ctx, si.sess, func(u *store.User) error {
			if hasSecondFactor(u, si.opts) {
				return &errs.Error{Code: errs.Conflict, Next: StepVerify, Message: "This account is already enrolled."}
			}
			return nil
		}),
		passed: func(q store.Queries, u *store.User) error {
			u.SecurityKey = true
			var err error
			step, err = s.enrolled(ctx, q, si.sess, u, si.opts, string(MethodSecurityKey), func(sess *store.Session) (Step, error) {
				sess.MFAPassed = true
				return s.advanceWith(ctx, q, sess, u, si.opts, MethodSecurityKey, string(MethodSecurityKey)+" (enrolment)")
			})
			return err
		}})
	if err != nil {
		return Step{}, err
	}
	s.notify(ctx, si.user, noticeKeyAdded)
	return step, nil
}

// BeginKeyRegister begins adding a key from the profile, under name, after proving the current
// password (a stolen session alone cannot add a key).
func (s *Service) BeginKeyRegister(ctx context.Context, p *Principal, name, current, addr string) (*protocol.CredentialCreation, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(o); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "" || utf8.RuneCountInString(name) > maxKeyName:
		return nil, errs.E(errs.Invalid, "Give the key a name of 1 to %d characters.", maxKeyName)
	case checkText("key name", name) != nil:
		return nil, checkText("key name", name)
	}
	if err := s.checkCurrentPassword(ctx, p.user, current, addr); err != nil {
		return nil, err
	}
	return s.beginRegistration(ctx, p.session.IDHash, p.user, ceremonyRegister, name)
}

// RegisteredKey is a key just added from the profile, with the backup codes issued when it
// is the account's first second factor (an enrolment, as from the profile with an app).
type RegisteredKey struct {
	SecurityKey
	BackupCodes []string
}

// FinishKeyRegister registers the key that BeginKeyRegister asked for. When the account had
// no second factor yet, this is its enrolment: backup codes are issued (when enabled) in the
// same transaction, and audited as one.
func (s *Service) FinishKeyRegister(ctx context.Context, p *Principal, credential []byte) (*RegisteredKey, error) {
	parsed, err := parseCreation(credential)
	if err != nil {
		return nil, err
	}
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(o); err != nil {
		return nil, err
	}
	var key *store.WebAuthnCredential
	var codes []string
	err = s.store.Update(ctx, func(q store.Queries) error {
		key, codes = nil, nil
		_, u, err := s.stillLive(ctx, q, p.session.IDHash)
		if err != nil {
			return err
		}
		c, err := s.takeChallenge(ctx, q, p.session.IDHash, ceremonyRegister)
		if err != nil || c == nil { // a refusal commits the challenge used up
			return err
		}
		first := !hasSecondFactor(u, o)
		if key, err = s.registered(ctx, q, u, c, parsed, s.now()); err != nil || key == nil {
			return err
		}
		if err := s.audit(ctx, q, u.Username, u.Username, "mfa.security_key_added", fmt.Sprintf("key %q", key.Name)); err != nil {
			return err
		}
		if !first {
			return nil
		}
		sess := *p.session // the session itself is not changed: no step to take
		st, err := s.enrolled(ctx, q, &sess, u, o, string(MethodSecurityKey)+" (profile)", func(*store.Session) (Step, error) {
			return Step{}, nil
		})
		codes = st.BackupCodes
		return err
	})
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, errs.E(errs.InvalidCode, "The security key was refused: start again with \"Add a security key\".")
	}
	s.notify(ctx, p.user, noticeKeyAdded)
	return &RegisteredKey{SecurityKey: keyView(key), BackupCodes: codes}, nil
}

// SecurityKey is one key as the profile lists it.
type SecurityKey struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	// Disabled: its counter went backwards (a possible clone); it can only be removed.
	Disabled bool
}

func keyView(k *store.WebAuthnCredential) SecurityKey {
	return SecurityKey{ID: strconv.FormatInt(k.ID, 10), Name: k.Name, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, Disabled: k.Disabled}
}

// SecurityKeys lists p's keys, oldest first; 403 forbidden while keys are turned off (they
// are then neither listed nor usable, but stay stored).
func (s *Service) SecurityKeys(ctx context.Context, p *Principal) ([]SecurityKey, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if !o.WebAuthnEnabled() {
		return nil, errKeysOff
	}
	keys, err := s.store.WebAuthnCredentials(ctx, p.user.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SecurityKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyView(k))
	}
	return out, nil
}

// BeginKeyProof begins proving p's second factor with one of its usable keys, signed in: the
// options of navigator.credentials.get, for regenerating backup codes or removing a key (any
// usable key of the account, the one being removed too). The challenge is the session's.
func (s *Service) BeginKeyProof(ctx context.Context, p *Principal) (*protocol.CredentialAssertion, error) {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(o); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, p.user.ID)
	if err != nil {
		return nil, err
	}
	if SecondFactorLockedAt(u, s.now()) {
		return nil, secondFactorLocked(u)
	}
	keys, err := s.store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ku := newKeyUser(u, keys)
	if len(ku.creds) == 0 {
		return nil, errNoKey
	}
	opts, sd, err := s.wa.BeginLogin(ku, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin key proof: %w", err)
	}
	if err := s.putChallenge(ctx, p.session.IDHash, ceremony{Kind: ceremonyProve, Session: *sd}); err != nil {
		return nil, err
	}
	return opts, nil
}

// keyProof answers the assertion credential, which answers the challenge of BeginKeyProof, as
// a proof for checkSecondFactor; 403 while keys are off or cannot work here.
func (s *Service) keyProof(o *options.Values, p *Principal, credential []byte) (*keyAssertion, error) {
	parsed, err := parseAssertion(credential)
	if err != nil {
		return nil, err
	}
	if err := s.keysAllowed(o); err != nil {
		return nil, err
	}
	return &keyAssertion{parsed: parsed, idHash: p.session.IDHash, kind: ceremonyProve}, nil
}

// RemoveSecurityKey removes p's key id after a second factor: a code, a backup code, or an
// assertion of a usable key of the account (credential, begun by BeginKeyProof; the key being
// removed may prove it), checked, counted and locked as any other.
func (s *Service) RemoveSecurityKey(ctx context.Context, p *Principal, id, code, backup string, credential []byte) error {
	o, err := s.opts.Get(ctx)
	if err != nil {
		return err
	}
	var pr proof
	var kp *keyAssertion
	if len(credential) > 0 {
		if code != "" || backup != "" {
			return errs.E(errs.Invalid, "Send a code, a backup code or a security key's answer, only one.")
		}
		if kp, err = s.keyProof(o, p, credential); err != nil {
			return err
		}
		pr = kp
	} else if pr, err = parseProof(code, backup); err != nil {
		return err
	}
	keyID, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return errs.E(errs.NotFound, "There is no such security key.")
	}
	if !o.WebAuthnEnabled() {
		return errKeysOff
	}
	if err := s.methodAllowed(pr.method(), o); err != nil {
		return err
	}
	keys, err := s.store.WebAuthnCredentials(ctx, p.user.ID)
	if err != nil {
		return err
	}
	name := ""
	for _, k := range keys {
		if k.ID == keyID {
			name = k.Name
		}
	}
	if name == "" {
		return errs.E(errs.NotFound, "There is no such security key.")
	}
	err = s.checkSecondFactor(ctx, factorCheck{load: s.readAccount(ctx, p.session, nil), proof: pr,
		passed: func(q store.Queries, u *store.User) error {
			if err := q.DeleteWebAuthnCredential(ctx, u.ID, keyID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return errs.E(errs.NotFound, "There is no such security key.")
				}
				return err
			}
			return s.audit(ctx, q, u.Username, u.Username, "mfa.security_key_removed",
				fmt.Sprintf("key %q, proved with a %s", name, pr.method()))
		}})
	if kp != nil {
		s.clonedKey(ctx, p.user, kp.cloned)
	}
	if err != nil {
		return err
	}
	s.notify(ctx, p.user, noticeKeyRemoved)
	return nil
}
