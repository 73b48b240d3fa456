package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/store"
)

// storage is the protocol library's storage, over the store contract: every code, token,
// consent and key lives in the database, so that instances sharing it agree (SPEC §7).
type storage struct{ p *Provider }

var (
	_ op.Storage                        = storage{}
	_ op.CanSetUserinfoFromRequest      = storage{}
	_ op.CanTerminateSessionFromRequest = storage{}
)

// Audit actions of applications (SPEC §7 "Audit").
const (
	ActionAuthorized     = "oidc.authorized"
	ActionConsent        = "oidc.consent"
	ActionConsentRemoved = "oidc.consent_removed"
	ActionRefreshed      = "oidc.refreshed"
	ActionRevoked        = "oidc.revoked"
	ActionCodeReplayed   = "oidc.code_replayed"
	ActionRefreshReplay  = "oidc.refresh_replayed"
	ActionLogout         = "oidc.logout"
	ActionEndSession     = "oidc.end_session"
	ActionKeyRotated     = "oidc.key_rotated"
)

// Limits on what a request may carry, so that an oversized one is refused before it is kept.
const (
	maxStateLen = 1024
	maxParamLen = 2048
	maxScopes   = 20
)

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("provider: random: %w", err)
	}
	return b, nil
}

// randomString is n random bytes in base64url without padding.
func randomString(r io.Reader, n int) (string, error) {
	b, err := randomBytes(r, n)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateAuthRequest keeps a request the library validated, after Twofold's own demands: PKCE
// with S256 for public clients and S256 only for all (SPEC §7), and bounded parameters. The
// subject of its id_token_hint, hintSubject, is kept for Continue.
func (s storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.p.st.Client(ctx, r.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client")
	}
	switch {
	case c.Public && r.CodeChallenge == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with S256 is required for this client")
	case r.CodeChallenge != "" && r.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case len(r.State) > maxStateLen || len(r.Nonce) > maxStateLen:
		return nil, oidc.ErrInvalidRequest().WithDescription("state or nonce too long")
	case len(r.LoginHint) > 256 || len(r.CodeChallenge) > 128 || len(r.Scopes) > maxScopes || len(r.ACRValues) > maxScopes:
		return nil, oidc.ErrInvalidRequest().WithDescription("a parameter is too long")
	case r.ResponseMode != "" && r.ResponseMode != oidc.ResponseModeQuery:
		return nil, oidc.ErrInvalidRequest().WithDescription("response_mode must be query")
	}
	body, err := json.Marshal(request{Scopes: r.Scopes, ResponseMode: string(r.ResponseMode), RedirectURI: r.RedirectURI,
		State: r.State, Nonce: r.Nonce, CodeChallenge: r.CodeChallenge, CodeChallengeMethod: string(r.CodeChallengeMethod),
		Prompt: r.Prompt, MaxAge: r.MaxAge, LoginHint: r.LoginHint, ACRValues: r.ACRValues, HintSubject: hintSubject})
	if err != nil {
		return nil, err
	}
	id, err := randomString(s.p.rand, 24)
	if err != nil {
		return nil, err
	}
	a := &store.AuthRequest{ID: id, ClientID: c.ID, Request: body, CreatedAt: s.p.now()}
	if err := s.p.st.CreateAuthRequest(ctx, a); err != nil {
		return nil, err
	}
	return decodeRequest(a, "")
}

// AuthRequestByID answers a request still waiting for its sign-in.
func (s storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.p.request(ctx, id)
	if err != nil {
		return nil, err
	}
	return ar, nil
}

// errCodeReplayed is a code presented again: refused, and its tokens revoked.
var errCodeReplayed = oidc.ErrInvalidGrant().WithDescription("the code was used before")

var errCodeExpired = oidc.ErrInvalidGrant().WithDescription("the code has expired")

var errCodeVoided = oidc.ErrInvalidGrant().WithDescription("the code is no longer valid")

// AuthRequestByCode answers the request of a code that still works. The code is used up when
// tokens are issued from it (issue), in the transaction that writes them: of every
// presentation, at any instance, the first to get there alone succeeds. A code presented after
// it was used marks the request replayed and revokes every token issued from it (SPEC §7).
func (s storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if code == "" || len(code) > maxParamLen {
		return nil, oidc.ErrInvalidGrant()
	}
	a, err := s.p.st.AuthRequestByCode(ctx, digest(code))
	if err != nil {
		return nil, err
	}
	if a.Redeemed || a.Replayed {
		return nil, s.p.replayed(ctx, a.ID, a.UserID)
	}
	if !s.p.now().Before(a.CodeExpiresAt) {
		return nil, errCodeExpired
	}
	u, err := s.p.st.User(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("the account is disabled")
	}
	ar, err := decodeRequest(a, u.Subject)
	if err != nil {
		return nil, err
	}
	ar.username = u.Username
	return ar, nil
}

// replayed marks request id, of the account userID, replayed and revokes every token issued
// from it, and answers the refusal.
func (p *Provider) replayed(ctx context.Context, id string, userID int64) error {
	var (
		a       *store.AuthRequest
		revoked int
	)
	err := p.st.Update(ctx, func(q store.Queries) error {
		if err := store.LockUser(ctx, q, userID); err != nil {
			return err
		}
		var err error
		if a, err = q.AuthRequest(ctx, id); err != nil {
			return err
		}
		a.Replayed = true
		if revoked, err = q.DeleteTokens(ctx, store.TokenFilter{Family: a.ID}); err != nil {
			return err
		}
		return q.UpdateAuthRequest(ctx, a)
	})
	if err != nil {
		return err
	}
	p.audit(ctx, a.UserID, ActionCodeReplayed, fmt.Sprintf("client %s; %d tokens revoked", a.ClientID, revoked))
	return errCodeReplayed
}

// SaveAuthCode keeps the hash of the one code issued for a finished request.
func (s storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.st.Update(ctx, func(q store.Queries) error {
		a, err := q.AuthRequest(ctx, id)
		if err != nil {
			return err
		}
		if !a.Done || a.CodeHash != nil {
			return errors.New("provider: a code was issued for this request already, or it is not finished")
		}
		a.CodeHash, a.CodeExpiresAt = digest(code), s.p.now().Add(CodeLifetime)
		return q.UpdateAuthRequest(ctx, a)
	})
}

// DeleteAuthRequest keeps a redeemed request until it expires: a second presentation of its
// code must still find it, to revoke what the first one issued. The sweep removes it.
func (s storage) DeleteAuthRequest(context.Context, string) error { return nil }

// CreateAccessToken issues an access token without a refresh token.
func (s storage) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	id, _, exp, err := s.issue(ctx, r, "", false)
	return id, exp, err
}

// CreateAccessAndRefreshTokens issues an access token with a refresh token; with a current
// refresh token it rotates it: the current one is used up in the same transaction, and one
// used already revokes its family (SPEC §7).
func (s storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.issue(ctx, r, current, true)
}

// errRefreshReplayed is a refresh token used a second time.
var errRefreshReplayed = oidc.ErrInvalidGrant().WithDescription("the refresh token was used before")

func (s storage) issue(ctx context.Context, r op.TokenRequest, current string, withRefresh bool) (string, string, time.Time, error) {
	now := s.p.now()
	t := store.Token{Kind: store.TokenAccess, CreatedAt: now, ExpiresAt: now.Add(AccessTokenLifetime), Scopes: r.GetScopes()}
	var (
		ar       *authRequest
		username string
	)
	switch req := r.(type) {
	case *authRequest:
		ar, username = req, req.username
		t.Family, t.ClientID, t.UserID, t.SID = req.a.ID, req.a.ClientID, req.a.UserID, req.a.SID
		t.AMR, t.AuthTime = req.a.AMR, req.a.AuthTime
	case *refreshRequest:
		username = req.username
		t.Family, t.ClientID, t.UserID, t.SID = req.t.Family, req.t.ClientID, req.t.UserID, req.t.SID
		t.AMR, t.AuthTime = req.t.AMR, req.t.AuthTime
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	accessID, err := randomString(s.p.rand, 32)
	if err != nil {
		return "", "", time.Time{}, err
	}
	var refresh string
	if withRefresh {
		if refresh, err = randomString(s.p.rand, 32); err != nil {
			return "", "", time.Time{}, err
		}
	}
	replayed := false
	err = s.p.st.Update(ctx, func(q store.Queries) error {
		if err := store.LockUser(ctx, q, t.UserID); err != nil {
			return err
		}
		if ar != nil {
			// The code is used up here, under the request's lock: a second presentation, here
			// or at another instance, finds it used and revokes what this one issues.
			a, err := q.AuthRequest(ctx, ar.a.ID)
			if errors.Is(err, store.ErrNotFound) {
				// Voided since it was read: the account's standing changed, or its consent
				// was withdrawn (DeleteUnredeemedCodes), in the transaction before this one.
				return errCodeVoided
			}
			if err != nil {
				return err
			}
			if a.Redeemed || a.Replayed {
				replayed = true
				return nil
			}
			if !now.Before(a.CodeExpiresAt) {
				return errCodeExpired
			}
			a.Redeemed = true
			if err := q.UpdateAuthRequest(ctx, a); err != nil {
				return err
			}
			if t.SID != "" {
				if err := q.AddSessionClient(ctx, t.SID, t.ClientID, t.UserID, now); err != nil {
					return err
				}
			}
		}
		if current != "" {
			ok, err := q.UseToken(ctx, digest(current))
			if err != nil {
				return err
			}
			if !ok {
				replayed = true
				return nil
			}
		}
		access := t
		access.IDHash = digest(accessID)
		if err := q.CreateToken(ctx, &access); err != nil {
			return err
		}
		if withRefresh {
			rt := t
			rt.Kind, rt.IDHash, rt.ExpiresAt = store.TokenRefresh, digest(refresh), now.Add(RefreshLifetime)
			if rr, ok := r.(*refreshRequest); ok {
				rt.Scopes = rr.t.Scopes // the grant keeps its scopes when one refresh asks for fewer
			}
			if err := q.CreateToken(ctx, &rt); err != nil {
				return err
			}
		}
		// The audit is written with the tokens: one commit for the whole grant.
		action, detail := ActionRefreshed, "client "+t.ClientID
		if ar != nil {
			action, detail = ActionAuthorized, fmt.Sprintf("client %s; scopes %s; amr %s",
				t.ClientID, strings.Join(t.Scopes, " "), strings.Join(t.AMR, " "))
		}
		return q.AddEvent(ctx, &store.Event{At: now, Actor: username, User: username, Action: action, Detail: detail})
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	if replayed {
		if ar != nil {
			return "", "", time.Time{}, s.p.replayed(ctx, ar.a.ID, ar.a.UserID)
		}
		s.p.revokeFamily(ctx, t.Family, t.UserID, t.ClientID)
		return "", "", time.Time{}, errRefreshReplayed
	}
	return accessID, refresh, t.ExpiresAt, nil
}

// TokenRequestByRefreshToken answers the grant of a refresh token that still works. One used
// before revokes its whole family.
func (s storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.p.st.Token(ctx, digest(token))
	if err != nil || t.Kind != store.TokenRefresh {
		return nil, op.ErrInvalidRefreshToken
	}
	if t.Used {
		s.p.revokeFamily(ctx, t.Family, t.UserID, t.ClientID)
		return nil, errRefreshReplayed
	}
	if !s.p.now().Before(t.ExpiresAt) {
		return nil, op.ErrInvalidRefreshToken
	}
	u, err := s.p.st.User(ctx, t.UserID)
	if err != nil || u.Disabled {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshRequest{t: t, subject: u.Subject, username: u.Username, scopes: t.Scopes}, nil
}

// TerminateSession is not used: Twofold's own end-session page ends the session of the cookie.
func (s storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest is not used either; see TerminateSession.
func (s storage) TerminateSessionFromRequest(_ context.Context, r *op.EndSessionRequest) (string, error) {
	return r.RedirectURI, nil
}

// RevokeToken revokes a token of the client (RFC 7009): an access token alone, a refresh token
// with its whole family.
func (s storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *oidc.Error {
	t, err := s.p.st.Token(ctx, digest(tokenOrID))
	if errors.Is(err, store.ErrNotFound) {
		return nil // RFC 7009: an unknown token is no error
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	if t.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	if t.Kind == store.TokenRefresh {
		if _, err := s.p.deleteFamily(ctx, t.Family, t.UserID); err != nil {
			return oidc.ErrServerError()
		}
	} else if err := s.p.st.DeleteToken(ctx, t.IDHash); err != nil {
		return oidc.ErrServerError()
	}
	s.p.audit(ctx, t.UserID, ActionRevoked, fmt.Sprintf("client %s; %s token", clientID, t.Kind))
	return nil
}

// GetRefreshTokenInfo answers the account and id of a refresh token of the client; its id is
// the token itself, which RevokeToken hashes.
func (s storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.p.st.Token(ctx, digest(token))
	if err != nil || t.Kind != store.TokenRefresh || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	sub, err := s.p.subject(ctx, t.UserID)
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return sub, token, nil
}

func (s storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.signing(ctx)
}

func (s storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.p.keys.published(ctx) }

func (s storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AuthorizeClientIDSecret compares the secret's hash in constant time. A failure is counted,
// never logged with what was sent.
func (s storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.p.st.Client(ctx, id)
	if err != nil || c.Public || len(c.SecretHash) == 0 ||
		subtle.ConstantTimeCompare(digest(secret), c.SecretHash) != 1 {
		s.p.clientAuthFailures.Inc()
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// SetUserinfoFromScopes fills the claims of the requested scopes and nothing else (SPEC §7).
func (s storage) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, subject, _ string, scopes []string) error {
	u, err := s.p.st.UserBySubject(ctx, subject)
	if err != nil {
		return err
	}
	if u.Disabled {
		return oidc.ErrAccessDenied().WithDescription("the account is disabled")
	}
	setClaims(ui, u, scopes)
	return nil
}

func setClaims(ui *oidc.UserInfo, u *store.User, scopes []string) {
	ui.Subject = u.Subject
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			ui.Name, ui.PreferredUsername = u.Name, u.Username
		case oidc.ScopeEmail:
			ui.Email = u.Email
			ui.AppendClaims("email_verified", u.EmailVerified)
		case ScopeGroups:
			ui.AppendClaims("groups", groupsClaim(u))
		}
	}
}

func groupsClaim(u *store.User) []string {
	if len(u.Groups) == 0 {
		return []string{}
	}
	return slices.Clone(u.Groups)
}

// SetUserinfoFromRequest adds the session id to the ID token (only there: userinfo answers the
// scopes' claims alone), and to a refreshed one its acr, which the library takes from an
// op.AuthRequest alone.
func (s storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, _ []string) error {
	switch req := r.(type) {
	case *authRequest:
		if req.a.SID != "" {
			ui.AppendClaims("sid", req.a.SID)
		}
	case *refreshRequest:
		if req.t.SID != "" {
			ui.AppendClaims("sid", req.t.SID)
		}
		ui.AppendClaims("acr", req.GetACR())
	}
	return nil
}

// SetUserinfoFromToken answers userinfo for an access token that still works.
func (s storage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	t, u, err := s.p.accessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	setClaims(ui, u, t.Scopes)
	return nil
}

// SetIntrospectionFromToken answers introspection to the client the token was issued to only
// (RFC 7662); to any other the token is inactive.
func (s storage) SetIntrospectionFromToken(ctx context.Context, ir *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, u, err := s.p.accessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if t.ClientID != clientID {
		return oidc.ErrAccessDenied().WithDescription("the token was not issued to this client")
	}
	ir.Active = true
	ir.Scope = t.Scopes
	ir.ClientID = t.ClientID
	ir.TokenType = oidc.BearerToken
	ir.Expiration = oidc.FromTime(t.ExpiresAt)
	ir.IssuedAt = oidc.FromTime(t.CreatedAt)
	ir.AuthTime = oidc.FromTime(t.AuthTime)
	ir.Subject = u.Subject
	ir.Audience = []string{t.ClientID}
	ir.Issuer = s.p.issuer
	ir.Username = u.Username
	return nil
}

// GetPrivateClaimsFromScopes adds nothing: access tokens are opaque.
func (s storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID and ValidateJWTProfileScopes belong to the JWT profile grant, which
// Twofold does not offer.
func (s storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s storage) Health(ctx context.Context) error { return s.p.st.Ping(ctx) }
