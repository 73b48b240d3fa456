package provider

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/store"
)

// request is what Twofold keeps of a validated authorization request.
type request struct {
	Scopes              []string `json:"scopes"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	RedirectURI         string   `json:"redirect_uri"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              *uint    `json:"max_age,omitempty"`
	LoginHint           string   `json:"login_hint,omitempty"`
	ACRValues           []string `json:"acr_values,omitempty"`
	// HintSubject is the subject of the id_token_hint, which the library verified.
	HintSubject string `json:"hint_subject,omitempty"`
}

// authRequest is a stored authorization request as the protocol library sees it.
type authRequest struct {
	a       *store.AuthRequest
	r       request
	subject string // the account's subject, once signed in
	// username names the account in the audit of the tokens issued from the request.
	username string
}

var (
	_ op.AuthRequest  = (*authRequest)(nil)
	_ op.TokenRequest = (*authRequest)(nil)
)

func decodeRequest(a *store.AuthRequest, subject string) (*authRequest, error) {
	ar := &authRequest{a: a, subject: subject}
	if err := json.Unmarshal(a.Request, &ar.r); err != nil {
		return nil, err
	}
	return ar, nil
}

func (ar *authRequest) GetID() string { return ar.a.ID }

func (ar *authRequest) GetACR() string { return account.ACR(ar.a.AMR) }

func (ar *authRequest) GetAMR() []string       { return ar.a.AMR }
func (ar *authRequest) GetAudience() []string  { return []string{ar.a.ClientID} }
func (ar *authRequest) GetAuthTime() time.Time { return ar.a.AuthTime }
func (ar *authRequest) GetClientID() string    { return ar.a.ClientID }

func (ar *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if ar.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: ar.r.CodeChallenge, Method: oidc.CodeChallengeMethod(ar.r.CodeChallengeMethod)}
}

func (ar *authRequest) GetNonce() string                   { return ar.r.Nonce }
func (ar *authRequest) GetRedirectURI() string             { return ar.r.RedirectURI }
func (ar *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (ar *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(ar.r.ResponseMode)
}
func (ar *authRequest) GetScopes() []string { return ar.r.Scopes }
func (ar *authRequest) GetState() string    { return ar.r.State }
func (ar *authRequest) GetSubject() string  { return ar.subject }
func (ar *authRequest) Done() bool          { return ar.a.Done }

// promptNone, promptLogin, asksMFA and hintsOther read the request's demands (SPEC §7).
func (ar *authRequest) promptNone() bool  { return slices.Contains(ar.r.Prompt, oidc.PromptNone) }
func (ar *authRequest) promptLogin() bool { return slices.Contains(ar.r.Prompt, oidc.PromptLogin) }
func (ar *authRequest) asksMFA() bool     { return slices.Contains(ar.r.ACRValues, account.AMRMFA) }

// hintsOther reports whether the request's id_token_hint names another account than subject.
func (ar *authRequest) hintsOther(subject string) bool {
	return ar.r.HintSubject != "" && ar.r.HintSubject != subject
}

// refreshRequest is a stored refresh token as the protocol library sees it.
type refreshRequest struct {
	t        *store.Token
	subject  string
	username string
	scopes   []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

// GetACR is the grant's acr, from the amr of the session the grant began in. The library asks
// only an op.AuthRequest for it; SetUserinfoFromRequest puts it in a refreshed ID token.
func (rr *refreshRequest) GetACR() string { return account.ACR(rr.t.AMR) }

func (rr *refreshRequest) GetAMR() []string            { return rr.t.AMR }
func (rr *refreshRequest) GetAudience() []string       { return []string{rr.t.ClientID} }
func (rr *refreshRequest) GetAuthTime() time.Time      { return rr.t.AuthTime }
func (rr *refreshRequest) GetClientID() string         { return rr.t.ClientID }
func (rr *refreshRequest) GetScopes() []string         { return rr.scopes }
func (rr *refreshRequest) GetSubject() string          { return rr.subject }
func (rr *refreshRequest) SetCurrentScopes(s []string) { rr.scopes = s }
