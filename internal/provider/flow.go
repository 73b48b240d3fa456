package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store"
)

// Next is what an authorization request needs before Twofold can answer the application.
type Next int

// What Continue can answer.
const (
	// NextRespond: the request is met; Respond answers the application.
	NextRespond Next = iota
	// NextSignIn: the person signs in (again, when Fresh); LoginHint fills the username.
	NextSignIn
	// NextStepUp: the session proves a second factor (account.Service.StepUp).
	NextStepUp
	// NextConsent: the person allows or denies what the client asks for.
	NextConsent
	// NextNoAccess: the person is not in the client's groups.
	NextNoAccess
	// NextError: Twofold answers the application with Error (prompt=none, say).
	NextError
)

// Decision is Continue's answer.
type Decision struct {
	Next Next
	// ClientName names the application on the pages.
	ClientName string
	// Scopes are what consent is asked for.
	Scopes    []string
	Fresh     bool
	LoginHint string
	// NeedMFA says the application needs a second factor: a sign-in for it proves one.
	NeedMFA bool
	// ReturnTo is where the sign-in, step-up or consent comes back to.
	ReturnTo string
	Error    *oidc.Error

	// req and client are the request and its application, for Respond's checks again.
	req    *authRequest
	client *client
}

// ContinueURL is the page that carries request id through sign-in.
func ContinueURL(id string) string { return ContinuePath + "?id=" + url.QueryEscape(id) }

// Continue decides what the request id still needs from the person whose session cookie holds
// token (SPEC §7 "Who signs in, and how", "Consent"). Its order: a session at all (prompt=login,
// max_age and an id_token_hint naming another account ask for a new one), membership of the
// client's groups, the second factor the client or acr_values demand, consent. With
// prompt=none every page becomes an error for the application.
func (p *Provider) Continue(ctx context.Context, id, token string) (*Decision, error) {
	ar, c, err := p.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &Decision{ClientName: c.c.Name, ReturnTo: ContinueURL(id), LoginHint: ar.r.LoginHint,
		NeedMFA: c.c.RequireMFA || ar.asksMFA(), req: ar, client: c}
	fail := func(e *oidc.Error) (*Decision, error) {
		d.Next, d.Error = NextError, e
		return d, nil
	}
	si, err := p.acc.SignedIn(ctx, token)
	if errs.Code(err) == errs.NotSignedIn {
		if ar.promptNone() {
			return fail(oidc.ErrLoginRequired())
		}
		d.Next = NextSignIn
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	if p.stale(ar, si) {
		if ar.promptNone() {
			return fail(oidc.ErrLoginRequired())
		}
		d.Next, d.Fresh = NextSignIn, true
		return d, nil
	}
	// An id_token_hint naming another account than the session's is never answered with a
	// code for the session's (OIDC Core §3.1.2.1): with prompt=none the application hears
	// login_required; otherwise the person signs in again, as prompt=login asks, and can sign
	// in as the account the hint names. A sign-in made for this request is answered whoever
	// it is, which ends the loop: the person chose that account, and the ID token names it.
	if ar.hintsOther(si.User.Subject) {
		if ar.promptNone() {
			return fail(oidc.ErrLoginRequired().WithDescription("id_token_hint names another account than the one signed in"))
		}
		if si.AuthTime.Before(ar.a.CreatedAt) {
			d.Next, d.Fresh = NextSignIn, true
			return d, nil
		}
	}
	if !c.admits(si.User) {
		if ar.promptNone() {
			return fail(oidc.ErrAccessDenied())
		}
		d.Next = NextNoAccess
		return d, nil
	}
	if d.NeedMFA && !si.SecondFactor() {
		// prompt=none is answered before an SSO account's refusal, which is a page:
		// interaction_required, as for a step-up. Not login_required: the person is signed in,
		// and a new sign-in at Twofold alone would not bring the second factor; only the
		// person can, at the identity provider.
		if ar.promptNone() {
			return fail(oidc.ErrInteractionRequired())
		}
		if si.User.Source == store.SourceSSO {
			return nil, errs.E(errs.Forbidden, "%s needs a second factor, and your organisation's identity provider did not report one for this sign-in. Sign in to the identity provider with a second factor, then try again.", c.c.Name)
		}
		d.Next = NextStepUp
		return d, nil
	}
	if ok, err := consented(ctx, p.st, si.User, c, ar); err != nil {
		return nil, err
	} else if !ok {
		if ar.promptNone() {
			return fail(&oidc.Error{ErrorType: "consent_required"})
		}
		d.Next, d.Scopes = NextConsent, ar.r.Scopes
		return d, nil
	}
	d.Next = NextRespond
	return d, nil
}

// admits reports whether the application c admits the account u: a member of one of its
// groups, when it names any (SPEC §7 --groups).
func (c *client) admits(u *store.User) bool {
	return len(c.c.Groups) == 0 || inAny(u.Groups, c.c.Groups)
}

// consented reports whether u allowed the application c what ar asks, or c asks no consent.
func consented(ctx context.Context, q store.Queries, u *store.User, c *client, ar *authRequest) (bool, error) {
	if c.c.SkipConsent {
		return true, nil
	}
	consent, err := q.Consent(ctx, u.ID, c.c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return covers(consent.Scopes, ar.r.Scopes), nil
}

// stale reports whether the session si is too old for the request ar, which then asks for the
// password (and second factor) again, as prompt=login does. prompt=login, which the library
// turns into max_age=0, asks for a sign-in made for this request: one begun after the request
// meets it, which ends the loop. A max_age above 0 is measured from the sign-in (auth_time)
// at every step up to the code itself, since Respond asks Continue again (OIDC Core
// §3.1.2.1): a person who signed in for the request and then stayed longer than max_age on
// the consent page signs in again before a code goes back, and the consent given is kept, so
// the code follows that sign-in at once. One who signs in within max_age is not sent round
// again; a sign-in slower than max_age is asked for again at the sign-in page, never in a
// redirect loop.
func (p *Provider) stale(ar *authRequest, si *account.SignedIn) bool {
	maxAge, hasMaxAge := maxAgeOf(ar.r)
	switch {
	case ar.promptLogin() || hasMaxAge && maxAge == 0:
		return si.AuthTime.Before(ar.a.CreatedAt)
	case hasMaxAge:
		return p.now().Sub(si.AuthTime) > maxAge
	}
	return false
}

// pending answers a request still waiting, with its client.
func (p *Provider) pending(ctx context.Context, id string) (*authRequest, *client, error) {
	ar, err := p.request(ctx, id)
	if errors.Is(err, errRequestGone) {
		return nil, nil, errs.E(errs.NotFound, "This sign-in request has expired or was used already. Go back to the application and sign in again.")
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := p.client(ctx, ar.a.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errs.E(errs.NotFound, "The application of this sign-in request is no longer registered.")
	}
	if err != nil {
		return nil, nil, err
	}
	return ar, c, nil
}

func inAny(have, want []string) bool {
	for _, g := range have {
		if slices.Contains(want, g) {
			return true
		}
	}
	return false
}

// covers reports whether the scopes allowed include every scope asked for.
func covers(allowed, asked []string) bool {
	for _, s := range asked {
		if !slices.Contains(allowed, s) {
			return false
		}
	}
	return true
}

// Consent records the person's answer to the consent page of request id: Allow remembers what
// the client asked for; Deny answers the application access_denied.
func (p *Provider) Consent(ctx context.Context, id, token string, allow bool) error {
	ar, c, err := p.pending(ctx, id)
	if err != nil {
		return err
	}
	si, err := p.acc.SignedIn(ctx, token)
	if err != nil {
		return err
	}
	if !allow {
		p.audit(ctx, si.User.ID, ActionConsent, fmt.Sprintf("client %s; denied", c.c.ID))
		return nil
	}
	scopes := slices.Clone(ar.r.Scopes)
	if old, err := p.st.Consent(ctx, si.User.ID, c.c.ID); err == nil {
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if err := p.st.SetConsent(ctx, &store.Consent{UserID: si.User.ID, ClientID: c.c.ID, Scopes: scopes, CreatedAt: p.now()}); err != nil {
		return err
	}
	p.audit(ctx, si.User.ID, ActionConsent, fmt.Sprintf("client %s; allowed %s", c.c.ID, strings.Join(ar.r.Scopes, " ")))
	return nil
}

// Respond answers where to send the browser for request id once Continue said NextRespond:
// the request is bound to the session, and a code goes back to the application with state and
// iss (RFC 9207). Continue is asked again first, so that nothing a page skipped is skipped here.
func (p *Provider) Respond(ctx context.Context, id, token string) (string, error) {
	d, err := p.Continue(ctx, id, token)
	if err != nil {
		return "", err
	}
	if d.Next == NextError {
		return p.RespondError(ctx, id, d.Error)
	}
	if d.Next != NextRespond {
		return "", errs.E(errs.Conflict, "This sign-in request is not finished yet. Go back to the application and try again.")
	}
	var ar *authRequest
	err = p.st.Update(ctx, func(q store.Queries) error {
		// The session and its account as they are now, the account locked: a change of the
		// account's standing that ended the session since Continue read it has committed, and
		// no code may come of it; one that commits after this transaction voids the request it
		// finished (DeleteUnredeemedCodes), so its code is never written or never exchanged.
		// Groups changed and consent withdrawn since Continue read them are seen here too.
		si, err := p.acc.SignedInNow(ctx, q, token)
		if err != nil {
			return err
		}
		if !d.client.admits(si.User) {
			return errAccessChanged
		}
		if ok, err := consented(ctx, q, si.User, d.client, d.req); err != nil {
			return err
		} else if !ok {
			return errAccessChanged
		}
		a, err := q.AuthRequest(ctx, id)
		if err != nil {
			return err
		}
		if a.Done {
			return errRequestGone
		}
		a.Done, a.UserID, a.SID, a.AuthTime, a.AMR = true, si.User.ID, si.SID, si.AuthTime, si.AMR
		if err := q.UpdateAuthRequest(ctx, a); err != nil {
			return err
		}
		ar, err = decodeRequest(a, si.User.Subject)
		return err
	})
	if errors.Is(err, errRequestGone) || errors.Is(err, store.ErrNotFound) {
		return "", errs.E(errs.NotFound, "This sign-in request has expired or was used already. Go back to the application and sign in again.")
	}
	if err != nil {
		return "", err
	}
	payload, err := op.BuildAuthResponseCodeResponsePayload(op.ContextWithIssuer(ctx, p.issuer), ar, p.op)
	if err != nil {
		return "", err
	}
	return p.responseURL(ar, payload)
}

// RespondError ends request id and answers where to send the browser to give the application
// e (RFC 6749 §4.1.2.1).
func (p *Provider) RespondError(ctx context.Context, id string, e *oidc.Error) (string, error) {
	ar, _, err := p.pending(ctx, id)
	if err != nil {
		return "", err
	}
	if err := p.st.DeleteAuthRequest(ctx, id); err != nil {
		return "", err
	}
	response := *e // the caller's error keeps its fields
	response.State = ar.r.State
	return p.responseURL(ar, &response)
}

// Deny answers the application access_denied for request id (Deny on the consent page, Back
// on the no-access page).
func (p *Provider) Deny(ctx context.Context, id string) (string, error) {
	return p.RespondError(ctx, id, oidc.ErrAccessDenied().WithDescription("access was not allowed"))
}

// responseURL is the request's redirect URI, which the library matched exactly against the
// client's when the request arrived, with the response and iss in its query.
func (p *Provider) responseURL(ar *authRequest, response any) (string, error) {
	return op.AuthResponseURL(ar.r.RedirectURI, oidc.ResponseTypeCode, oidc.ResponseModeQuery, response, p.responseEncoder())
}

// ClientName answers the name of request id's client, for pages.
func (p *Provider) ClientName(ctx context.Context, id string) (string, error) {
	_, c, err := p.pending(ctx, id)
	if err != nil {
		return "", err
	}
	return c.c.Name, nil
}
