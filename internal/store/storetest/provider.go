package storetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// The cases of the OpenID Connect provider's storage (SPEC §7), which Run runs with the others.
var providerTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"UserSubject", testUserSubject},
	{"SessionProviderFields", testSessionProviderFields},
	{"Clients", testClients},
	{"DeleteClientCascades", testDeleteClientCascades},
	{"AuthRequests", testAuthRequests},
	{"AuthRequestCodeConflictInUpdate", testAuthRequestCodeConflictInUpdate},
	{"AuthRequestCodeRace", testAuthRequestCodeRace},
	{"AuthRequestLockRace", testAuthRequestLockRace},
	{"Tokens", testTokens},
	{"UseTokenRace", testUseTokenRace},
	{"TokenLockRace", testTokenLockRace},
	{"DeleteTokens", testDeleteTokens},
	{"DeleteUnredeemedCodes", testDeleteUnredeemedCodes},
	{"TokenClients", testTokenClients},
	{"ProviderExpirySweeps", testProviderExpirySweeps},
	{"Consents", testConsents},
	{"SigningKeys", testSigningKeys},
	{"SessionClients", testSessionClients},
	{"EndedSessionClients", testEndedSessionClients},
	{"EndedSessionClientsRace", testEndedSessionClientsRace},
	{"SessionSIDs", testSessionSIDs},
	{"LogoutNotices", testLogoutNotices},
	{"LogoutNoticeClaimRace", testLogoutNoticeClaimRace},
	{"LogoutNoticesInsideUpdate", testLogoutNoticesInsideUpdate},
	{"ProviderQueriesInsideUpdate", testProviderQueriesInsideUpdate},
	{"ProviderUpdateRollsBack", testProviderUpdateRollsBack},
}

// diff reports the first field of two pointers to one struct type that differs, comparing
// times with Equal and treating nil and empty slices alike; "" when none does.
func diff(want, got any) string {
	w, g := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
	for i := range w.NumField() {
		wf, gf := w.Field(i).Interface(), g.Field(i).Interface()
		var same bool
		switch wv := wf.(type) {
		case time.Time:
			same = wv.Equal(gf.(time.Time))
		case []byte:
			same = bytes.Equal(wv, gf.([]byte))
		case []string:
			same = slices.Equal(wv, gf.([]string))
		default:
			same = wf == gf
		}
		if !same {
			return fmt.Sprintf("%s = %#v, want %#v", w.Type().Field(i).Name, gf, wf)
		}
	}
	return ""
}

// newClient registers a confidential client with every field set (clientOf).
func newClient(t testing.TB, q store.Queries, id string, at time.Time) *store.Client {
	t.Helper()
	c := clientOf(id, at)
	if err := q.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", id, err)
	}
	return c
}

// clientOf is a confidential client with every field set.
func clientOf(id string, at time.Time) *store.Client {
	return &store.Client{
		ID:                     id,
		Name:                   "App " + id,
		SecretHash:             hash("secret-" + id),
		RedirectURIs:           []string{"https://" + id + ".example.com/callback", "http://127.0.0.1:8080/cb?a=1&b=two"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.com/bye"},
		BackchannelLogoutURI:   "https://" + id + ".example.com/backchannel",
		RequireMFA:             true,
		SkipConsent:            true,
		Groups:                 []string{"admins", "ops.team_1"},
		CreatedAt:              at,
	}
}

// newToken stores tokenOf.
func newToken(t testing.TB, q store.Queries, name, family, clientID string, userID int64, sid string) *store.Token {
	t.Helper()
	tok := tokenOf(name, family, clientID, userID, sid)
	if err := q.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%q): %v", name, err)
	}
	return tok
}

// tokenOf is a refresh token of the account and client, valid an hour after t0, under
// hash("tok-"+name).
func tokenOf(name, family, clientID string, userID int64, sid string) *store.Token {
	return &store.Token{
		IDHash: hash("tok-" + name), Kind: store.TokenRefresh, Family: family, ClientID: clientID,
		UserID: userID, SID: sid, Scopes: []string{"openid", "offline_access"}, AMR: []string{"pwd"},
		AuthTime: t0.Add(-time.Minute + 123*time.Nanosecond), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0,
	}
}

// newAuthRequest stores authRequestOf.
func newAuthRequest(t testing.TB, q store.Queries, id, clientID string, userID int64) *store.AuthRequest {
	t.Helper()
	a := authRequestOf(id, clientID, userID)
	if err := q.CreateAuthRequest(t.Context(), a); err != nil {
		t.Fatalf("CreateAuthRequest(%q): %v", id, err)
	}
	return a
}

// authRequestOf is a request of the client that a sign-in of the account met and whose code
// (hash("code-"+id)) was issued.
func authRequestOf(id, clientID string, userID int64) *store.AuthRequest {
	return &store.AuthRequest{
		ID: id, ClientID: clientID, Request: []byte(`{"scopes":["openid"],"state":"s"}`), CreatedAt: t0,
		Done: true, UserID: userID, SID: "sid-" + id, AuthTime: t0, AMR: []string{"pwd", "otp", "mfa"},
		CodeHash: hash("code-" + id), CodeExpiresAt: t0.Add(time.Minute),
	}
}

// gone checks that a lookup answered ErrNotFound.
func gone(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s = %v, want ErrNotFound", what, err)
	}
}

// ---- accounts and sessions

func testUserSubject(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "sam")
	v := NewUser(t, s, "sue")
	for _, x := range []*store.User{u, v} {
		if b, err := hex.DecodeString(x.Subject); err != nil || len(b) != 16 {
			t.Errorf("CreateUser made the subject %q, want 32 hex digits", x.Subject)
		}
	}
	if u.Subject == v.Subject {
		t.Errorf("two accounts got the subject %q", u.Subject)
	}
	given := &store.User{Username: "sid", Kind: store.KindExternal, Source: store.SourceSSO, Role: store.RoleUser,
		Subject: "subject-made-by-the-service", EmailVerified: true, CreatedAt: t0}
	if err := s.CreateUser(ctx, given); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if given.Subject != "subject-made-by-the-service" {
		t.Errorf("CreateUser changed a given subject to %q", given.Subject)
	}
	for _, want := range []*store.User{u, v, given} {
		got, err := s.UserBySubject(ctx, want.Subject)
		if err != nil {
			t.Fatalf("UserBySubject: %v", err)
		}
		if d := diffUser(want, got); d != "" {
			t.Errorf("UserBySubject: %s", d)
		}
		if got, err := s.UserByName(ctx, want.Username); err != nil || diffUser(want, got) != "" {
			t.Errorf("UserByName(%s): %v, %s", want.Username, err, diffUser(want, got))
		}
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != 3 {
		t.Fatalf("Users = %d, %v", len(us), err)
	}
	for _, got := range us {
		if want := map[int64]*store.User{u.ID: u, v.ID: v, given.ID: given}[got.ID]; diffUser(want, got) != "" {
			t.Errorf("Users: %s: %s", got.Username, diffUser(want, got))
		}
	}
	_, err = s.UserBySubject(ctx, "no-such-subject")
	gone(t, "UserBySubject(unknown)", err)

	// A subject is unique.
	dup := &store.User{Username: "other", Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser,
		Subject: u.Subject, CreatedAt: t0}
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser with a taken subject = %v, want ErrConflict", err)
	}
	if n, err := s.CountUsers(ctx, ""); err != nil || n != 3 {
		t.Errorf("CountUsers after a refused subject = %d, %v; want 3", n, err)
	}

	// UpdateUser writes EmailVerified both ways and never changes the subject.
	want := *u
	want.EmailVerified = true
	changed := want
	changed.Subject = "another-subject"
	if err := s.UpdateUser(ctx, &changed); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if d := diffUser(&want, getUser(t, s, u.ID)); d != "" {
		t.Errorf("after UpdateUser: %s", d)
	}
	want.EmailVerified = false
	if err := s.UpdateUser(ctx, &want); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if d := diffUser(&want, getUser(t, s, u.ID)); d != "" {
		t.Errorf("after UpdateUser: %s", d)
	}
	_, err = s.UserBySubject(ctx, "another-subject")
	gone(t, "UserBySubject(a subject UpdateUser was given)", err)
}

func testSessionProviderFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "tara")
	s1 := &store.Session{
		IDHash: hash("p1"), UserID: u.ID, SID: "sid-of-tara", AMR: []string{"pwd"}, MFARequired: true,
		ReturnTo: "/authorize?id=ar-1&x=%20y", CreatedAt: t0, LastSeenAt: t0.Add(987 * time.Nanosecond),
	}
	if err := s.CreateSession(ctx, s1); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	get := func(want *store.Session) *store.Session {
		t.Helper()
		got, err := s.Session(ctx, want.IDHash)
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		if d := diffSession(want, got); d != "" {
			t.Errorf("Session: %s", d)
		}
		return got
	}
	get(s1)

	// The next step keeps the sid under a new id and records the second factor.
	s2 := *s1
	s2.IDHash, s2.Done, s2.MFAPassed = hash("p2"), true, true
	s2.AMR, s2.MFARequired, s2.ReturnTo = []string{"pwd", "otp", "mfa"}, false, ""
	if err := s.ReplaceSession(ctx, s1.IDHash, &s2); err != nil {
		t.Fatalf("ReplaceSession: %v", err)
	}
	get(&s2)

	// And back to none; the sid stays (ReplaceSession never changes it).
	s3 := s2
	s3.AMR = nil
	if err := s.ReplaceSession(ctx, s2.IDHash, &s3); err != nil {
		t.Fatalf("ReplaceSession: %v", err)
	}
	if got := get(&s3); got.AMR != nil {
		t.Errorf("AMR after replacing with none = %q, want nil", got.AMR)
	}
}

// ---- clients

func testClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	if cs, err := s.Clients(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("Clients on an empty store = %d, %v", len(cs), err)
	}
	c1 := newClient(t, s, "app-one", t0)
	c2 := &store.Client{ID: "app-two", Name: "Public app — ✓", Public: true,
		RedirectURIs: []string{`http://localhost:3000/cb?q="quoted" é`}, CreatedAt: t0.Add(time.Minute)}
	if err := s.CreateClient(ctx, c2); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	c3 := newClient(t, s, "app-three", t0.Add(30*time.Second))
	for _, want := range []*store.Client{c1, c2, c3} {
		got, err := s.Client(ctx, want.ID)
		if err != nil {
			t.Fatalf("Client(%s): %v", want.ID, err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("Client(%s): %s", want.ID, d)
		}
	}
	if got, err := s.Client(ctx, c2.ID); err != nil || got.SecretHash != nil || got.PostLogoutRedirectURIs != nil || got.Groups != nil {
		t.Errorf("a public client's secret and empty lists = %x, %q, %q, %v; want nil", got.SecretHash, got.PostLogoutRedirectURIs, got.Groups, err)
	}
	dup := *c2
	dup.Name = "Other"
	if err := s.CreateClient(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateClient of a taken id = %v, want ErrConflict", err)
	}
	list := func(want ...*store.Client) {
		t.Helper()
		cs, err := s.Clients(ctx)
		if err != nil || len(cs) != len(want) {
			t.Fatalf("Clients = %d, %v; want %d", len(cs), err, len(want))
		}
		for i := range want {
			if d := diff(want[i], cs[i]); d != "" {
				t.Errorf("Clients[%d] (%s, want %s newest first): %s", i, cs[i].ID, want[i].ID, d)
			}
		}
	}
	list(c2, c3, c1)

	// UpdateClient writes every field but ID and CreatedAt: to other values, then to none.
	want := *c1
	want.Name, want.SecretHash, want.Public = "App one, renamed", hash("rotated"), false
	want.RedirectURIs = []string{"https://one.example.org/cb"}
	want.PostLogoutRedirectURIs = []string{"https://one.example.org/a", "https://one.example.org/b"}
	want.BackchannelLogoutURI = "https://one.example.org/bc"
	want.RequireMFA, want.SkipConsent, want.Groups = false, false, []string{"staff"}
	changed := want
	changed.CreatedAt = t0.Add(time.Hour)
	if err := s.UpdateClient(ctx, &changed); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if got, err := s.Client(ctx, c1.ID); err != nil || diff(&want, got) != "" {
		t.Errorf("after UpdateClient: %v, %s", err, diff(&want, got))
	}
	none := store.Client{ID: c1.ID, Name: "bare", Public: true, CreatedAt: c1.CreatedAt}
	if err := s.UpdateClient(ctx, &none); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	got, err := s.Client(ctx, c1.ID)
	if err != nil || diff(&none, got) != "" {
		t.Errorf("after UpdateClient to none: %v, %s", err, diff(&none, got))
	} else if got.SecretHash != nil || got.RedirectURIs != nil {
		t.Errorf("after UpdateClient to none: secret %x, redirect URIs %q; want nil", got.SecretHash, got.RedirectURIs)
	}
	if got, err := s.Client(ctx, c3.ID); err != nil || diff(c3, got) != "" {
		t.Errorf("UpdateClient changed another client: %v, %s", err, diff(c3, got))
	}
	missing := none
	missing.ID = "no-such-app"
	gone(t, "UpdateClient(unknown)", s.UpdateClient(ctx, &missing))
	_, err = s.Client(ctx, "no-such-app")
	gone(t, "Client(unknown)", err)
	gone(t, "DeleteClient(unknown)", s.DeleteClient(ctx, "no-such-app"))
	if err := s.DeleteClient(ctx, c2.ID); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	_, err = s.Client(ctx, c2.ID)
	gone(t, "Client after DeleteClient", err)
	gone(t, "DeleteClient again", s.DeleteClient(ctx, c2.ID))
	list(c3, &none)
}

// testDeleteClientCascades: removing a client removes its authorization requests, tokens,
// consents and session records, and nothing of another client or of the accounts.
func testDeleteClientCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "uli")
	v := NewUser(t, s, "val")
	for _, id := range []string{"doomed", "kept"} {
		newClient(t, s, id, t0)
		newAuthRequest(t, s, "ar-"+id, id, u.ID)
		newToken(t, s, id+"-u", "ar-"+id, id, u.ID, "sid-1")
		newToken(t, s, id+"-v", "fam-"+id, id, v.ID, "sid-2")
		if err := s.SetConsent(ctx, &store.Consent{UserID: u.ID, ClientID: id, Scopes: []string{"openid"}, CreatedAt: t0}); err != nil {
			t.Fatalf("SetConsent: %v", err)
		}
		if err := s.AddSessionClient(ctx, "sid-1", id, u.ID, t0); err != nil {
			t.Fatalf("AddSessionClient: %v", err)
		}
	}
	if err := s.DeleteClient(ctx, "doomed"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	_, err := s.AuthRequest(ctx, "ar-doomed")
	gone(t, "the removed client's auth request", err)
	_, err = s.AuthRequestByCode(ctx, hash("code-ar-doomed"))
	gone(t, "the removed client's code", err)
	for _, name := range []string{"doomed-u", "doomed-v"} {
		_, err = s.Token(ctx, hash("tok-"+name))
		gone(t, "the removed client's token "+name, err)
	}
	_, err = s.Consent(ctx, u.ID, "doomed")
	gone(t, "the removed client's consent", err)
	if ids, err := s.SessionClients(ctx, "sid-1"); err != nil || !slices.Equal(ids, []string{"kept"}) {
		t.Errorf("SessionClients after DeleteClient = %q, %v; want [kept]", ids, err)
	}
	if _, err := s.AuthRequest(ctx, "ar-kept"); err != nil {
		t.Errorf("the other client's auth request: %v", err)
	}
	for _, name := range []string{"kept-u", "kept-v"} {
		if _, err := s.Token(ctx, hash("tok-"+name)); err != nil {
			t.Errorf("the other client's token %s: %v", name, err)
		}
	}
	if _, err := s.Consent(ctx, u.ID, "kept"); err != nil {
		t.Errorf("the other client's consent: %v", err)
	}
	if n, err := s.CountUsers(ctx, ""); err != nil || n != 2 {
		t.Errorf("CountUsers after DeleteClient = %d, %v; want 2", n, err)
	}
}

// ---- authorization requests

func testAuthRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "wil")
	c := newClient(t, s, "app", t0)
	a := &store.AuthRequest{ID: "ar-1", ClientID: c.ID, Request: []byte(`{"redirect_uri":"https://app/cb","nonce":"n-1"}`), CreatedAt: t0}
	if err := s.CreateAuthRequest(ctx, a); err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
	get := func(want *store.AuthRequest) {
		t.Helper()
		got, err := s.AuthRequest(ctx, want.ID)
		if err != nil {
			t.Fatalf("AuthRequest: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("AuthRequest: %s", d)
		}
		if want.CodeHash == nil {
			if got.CodeHash != nil || got.AMR != nil {
				t.Errorf("AuthRequest before a code: code hash %x, amr %q; want nil", got.CodeHash, got.AMR)
			}
			return
		}
		got, err = s.AuthRequestByCode(ctx, want.CodeHash)
		if err != nil || diff(want, got) != "" {
			t.Errorf("AuthRequestByCode: %v, %s", err, diff(want, got))
		}
	}
	get(a)
	dup := *a
	if err := s.CreateAuthRequest(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAuthRequest of a taken id = %v, want ErrConflict", err)
	}
	if err := s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar-x", ClientID: "no-such-app", CreatedAt: t0}); err == nil {
		t.Errorf("CreateAuthRequest of an unknown client succeeded")
	}
	empty := &store.AuthRequest{ID: "ar-empty", ClientID: c.ID, Request: []byte{}, AMR: []string{}, CreatedAt: t0}
	if err := s.CreateAuthRequest(ctx, empty); err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
	if got, err := s.AuthRequest(ctx, empty.ID); err != nil || got.Request != nil || got.AMR != nil || got.UserID != 0 {
		t.Errorf("an empty request, amr and account = %v, %q, %d, %v; want nil, nil, 0", got.Request, got.AMR, got.UserID, err)
	}

	// A sign-in meets it, then its code is issued; ClientID, Request and CreatedAt stay.
	want := *a
	want.Done, want.UserID, want.SID, want.AuthTime = true, u.ID, "sid-1", t0.Add(5*time.Second+1)
	want.AMR, want.CodeHash = []string{"pwd", "otp", "mfa"}, hash("code-1")
	changed := want
	changed.ClientID, changed.Request, changed.CreatedAt = "other", []byte("{}"), t0.Add(time.Hour)
	if err := s.UpdateAuthRequest(ctx, &changed); err != nil {
		t.Fatalf("UpdateAuthRequest: %v", err)
	}
	get(&want)
	want.Redeemed = true
	if err := s.UpdateAuthRequest(ctx, &want); err != nil {
		t.Fatalf("UpdateAuthRequest: %v", err)
	}
	get(&want)
	_, err := s.AuthRequestByCode(ctx, hash("code-unknown"))
	gone(t, "AuthRequestByCode(unknown)", err)
	_, err = s.AuthRequestByCode(ctx, nil)
	gone(t, "AuthRequestByCode(nil)", err)
	_, err = s.AuthRequest(ctx, "ar-unknown")
	gone(t, "AuthRequest(unknown)", err)

	// A code hash is one request's: another request's update to it is refused and changes
	// nothing.
	b := newAuthRequest(t, s, "ar-2", c.ID, u.ID)
	taken := *b
	taken.CodeHash, taken.Replayed = want.CodeHash, true
	if err := s.UpdateAuthRequest(ctx, &taken); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateAuthRequest to a taken code hash = %v, want ErrConflict", err)
	}
	get(b)
	get(&want)
	if err := s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar-3", ClientID: c.ID, CodeHash: want.CodeHash, CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAuthRequest with a taken code hash = %v, want ErrConflict", err)
	}
	missing := want
	missing.ID, missing.CodeHash = "ar-unknown", hash("code-other")
	gone(t, "UpdateAuthRequest(unknown)", s.UpdateAuthRequest(ctx, &missing))

	// Back to none: no account (NULL), no code.
	none := *a
	none.Replayed = true
	if err := s.UpdateAuthRequest(ctx, &none); err != nil {
		t.Fatalf("UpdateAuthRequest to none: %v", err)
	}
	get(&none)
	_, err = s.AuthRequestByCode(ctx, want.CodeHash)
	gone(t, "AuthRequestByCode of a code the request no longer has", err)

	if err := s.DeleteAuthRequest(ctx, a.ID); err != nil {
		t.Fatalf("DeleteAuthRequest: %v", err)
	}
	_, err = s.AuthRequest(ctx, a.ID)
	gone(t, "AuthRequest after DeleteAuthRequest", err)
	if err := s.DeleteAuthRequest(ctx, a.ID); err != nil {
		t.Errorf("DeleteAuthRequest of a gone request: %v", err)
	}
	get(b)
}

// testAuthRequestCodeConflictInUpdate: a refused code hash inside Update is an answer, not a
// failed statement: the transaction goes on and commits (PostgreSQL aborts a transaction at
// its first SQL error).
func testAuthRequestCodeConflictInUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "xavi")
	c := newClient(t, s, "app", t0)
	a := newAuthRequest(t, s, "ar-1", c.ID, u.ID)
	b := newAuthRequest(t, s, "ar-2", c.ID, u.ID)
	err := s.Update(ctx, func(q store.Queries) error {
		taken := *b
		taken.CodeHash = a.CodeHash
		if err := q.UpdateAuthRequest(ctx, &taken); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("UpdateAuthRequest to a taken code hash = %v, want ErrConflict", err)
		}
		if err := q.CreateAuthRequest(ctx, a); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateAuthRequest of a taken id = %v, want ErrConflict", err)
		}
		if err := q.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateClient of a taken id = %v, want ErrConflict", err)
		}
		b.Redeemed = true
		return q.UpdateAuthRequest(ctx, b)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, err := s.AuthRequest(ctx, b.ID); err != nil || diff(b, got) != "" {
		t.Errorf("after the Update: %v, %s", err, diff(b, got))
	}
}

// lockHold is how long the lock races hold a row between reading and writing it: much longer
// than a new connection of a pool takes to open, so that without the lock the racers' reads
// would overlap. With the lock only the first racer waits it.
const lockHold = 100 * time.Millisecond

// redeemOnce runs the redemption of a code as the provider does, in one Update: read the
// request by its code (locked), and mark it redeemed unless it is. It answers whether this call
// redeemed it.
func redeemOnce(ctx context.Context, s store.Store, code []byte) (bool, error) {
	var won bool
	err := s.Update(ctx, func(q store.Queries) error {
		won = false
		a, err := q.AuthRequestByCode(ctx, code)
		if err != nil || a.Redeemed {
			return err
		}
		time.Sleep(lockHold)
		a.Redeemed = true
		if err := q.UpdateAuthRequest(ctx, a); err != nil {
			return err
		}
		won = true
		return nil
	})
	return won && err == nil, err
}

// testAuthRequestCodeRace: of 20 redemptions of one code at once, exactly one finds it
// unredeemed (SPEC §7: a code works once).
func testAuthRequestCodeRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "yves")
	c := newClient(t, s, "app", t0)
	a := newAuthRequest(t, s, "ar-raced", c.ID, u.ID)
	wins, errs := raceWins(20, func(int) (bool, error) { return redeemOnce(ctx, s, a.CodeHash) })
	if len(errs) > 0 {
		t.Fatalf("redemption errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing redemptions of one code: %d found it unredeemed, want exactly 1", wins)
	}
}

// testAuthRequestLockRace: AuthRequest locks too: of 20 sign-ins meeting one request at once
// (read it, and complete it unless it is done), exactly one completes it.
func testAuthRequestLockRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "zack")
	c := newClient(t, s, "app", t0)
	a := &store.AuthRequest{ID: "ar-raced", ClientID: c.ID, Request: []byte("{}"), CreatedAt: t0}
	if err := s.CreateAuthRequest(ctx, a); err != nil {
		t.Fatal(err)
	}
	wins, errs := raceWins(20, func(i int) (bool, error) {
		var won bool
		err := s.Update(ctx, func(q store.Queries) error {
			won = false
			a, err := q.AuthRequest(ctx, "ar-raced")
			if err != nil || a.Done {
				return err
			}
			time.Sleep(lockHold)
			a.Done, a.UserID, a.SID = true, u.ID, fmt.Sprint("sid-", i)
			if err := q.UpdateAuthRequest(ctx, a); err != nil {
				return err
			}
			won = true
			return nil
		})
		return won && err == nil, err
	})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing completions of one request: %d found it not done, want exactly 1", wins)
	}
}

// ---- tokens

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "abe")
	c := newClient(t, s, "app", t0)
	r := newToken(t, s, "r1", "ar-1", c.ID, u.ID, "sid-1")
	acc := &store.Token{IDHash: hash("tok-a1"), Kind: store.TokenAccess, Family: "ar-1", ClientID: c.ID,
		UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(-time.Second)} // expired, no sid, scopes or amr
	if err := s.CreateToken(ctx, acc); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	for _, want := range []*store.Token{r, acc} {
		got, err := s.Token(ctx, want.IDHash)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("Token(%s): %s", want.Kind, d)
		}
	}
	if got, err := s.Token(ctx, acc.IDHash); err != nil || got.Scopes != nil || got.AMR != nil {
		t.Errorf("a token's empty lists = %q, %q, %v; want nil", got.Scopes, got.AMR, err)
	}
	dup := *r
	dup.Family = "other"
	if err := s.CreateToken(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken of a taken hash = %v, want ErrConflict", err)
	}
	if err := s.CreateToken(ctx, &store.Token{IDHash: hash("tok-x"), Kind: store.TokenAccess, ClientID: "no-such-app",
		UserID: u.ID, ExpiresAt: t0, CreatedAt: t0}); err == nil {
		t.Errorf("CreateToken of an unknown client succeeded")
	}
	_, err := s.Token(ctx, hash("tok-unknown"))
	gone(t, "Token(unknown)", err)

	use := func(h []byte, want bool) {
		t.Helper()
		if ok, err := s.UseToken(ctx, h); err != nil || ok != want {
			t.Errorf("UseToken = %v, %v; want %v", ok, err, want)
		}
	}
	use(r.IDHash, true)
	use(r.IDHash, false) // once only
	if got, err := s.Token(ctx, r.IDHash); err != nil || !got.Used {
		t.Errorf("Token after UseToken: %+v, %v; want Used", got, err)
	}
	_, err = s.UseToken(ctx, hash("tok-unknown"))
	gone(t, "UseToken(unknown)", err)

	if err := s.DeleteToken(ctx, acc.IDHash); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	_, err = s.Token(ctx, acc.IDHash)
	gone(t, "Token after DeleteToken", err)
	if err := s.DeleteToken(ctx, acc.IDHash); err != nil {
		t.Errorf("DeleteToken of a gone token: %v", err)
	}
	if _, err := s.Token(ctx, r.IDHash); err != nil {
		t.Errorf("DeleteToken removed another token: %v", err)
	}
}

// testUseTokenRace: of 20 uses of one refresh token at once, exactly one succeeds.
func testUseTokenRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "bea")
	c := newClient(t, s, "app", t0)
	r := newToken(t, s, "raced", "ar-1", c.ID, u.ID, "sid-1")
	newToken(t, s, "other", "ar-1", c.ID, u.ID, "sid-1")
	wins, errs := raceWins(20, func(int) (bool, error) { return s.UseToken(ctx, r.IDHash) })
	if len(errs) > 0 {
		t.Fatalf("UseToken errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing UseToken of one token: %d accepted, want exactly 1", wins)
	}
	if ok, err := s.UseToken(ctx, hash("tok-other")); err != nil || !ok {
		t.Errorf("UseToken of the other token = %v, %v; want true", ok, err)
	}
}

// testTokenLockRace: Token locks: of 20 Updates that each read one token and revoke it if it
// is there, exactly one finds it.
func testTokenLockRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "cal")
	c := newClient(t, s, "app", t0)
	r := newToken(t, s, "raced", "ar-1", c.ID, u.ID, "sid-1")
	wins, errs := raceWins(20, func(int) (bool, error) {
		var won bool
		err := s.Update(ctx, func(q store.Queries) error {
			won = false
			if _, err := q.Token(ctx, r.IDHash); errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			time.Sleep(lockHold)
			if err := q.DeleteToken(ctx, r.IDHash); err != nil {
				return err
			}
			won = true
			return nil
		})
		return won && err == nil, err
	})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if wins != 1 {
		t.Errorf("20 racing revocations of one token: %d found it, want exactly 1", wins)
	}
}

func testDeleteTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "dee")
	v := NewUser(t, s, "eli")
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	all := []struct {
		name, family, client string
		user                 int64
		sid                  string
	}{
		{"t1", "f1", "c1", u.ID, "s1"},
		{"t2", "f1", "c1", u.ID, "s1"},
		{"t3", "f2", "c1", u.ID, "s2"},
		{"t4", "f3", "c2", u.ID, "s1"},
		{"t5", "f4", "c2", v.ID, "s3"},
		{"t6", "f5", "c1", v.ID, "s3"},
		{"t7", "f6", "c2", u.ID, "s2"},
	}
	for _, x := range all {
		newToken(t, s, x.name, x.family, x.client, x.user, x.sid)
	}
	left := func(want ...string) {
		t.Helper()
		var got []string
		for _, x := range all {
			if _, err := s.Token(ctx, hash("tok-"+x.name)); err == nil {
				got = append(got, x.name)
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Token: %v", err)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("tokens left = %v, want %v", got, want)
		}
	}
	if n, err := s.DeleteTokens(ctx, store.TokenFilter{}); err == nil || n != 0 {
		t.Errorf("DeleteTokens with no filter = %d, %v; want an error", n, err)
	}
	left("t1", "t2", "t3", "t4", "t5", "t6", "t7")
	for _, c := range []struct {
		f    store.TokenFilter
		n    int
		left []string
	}{
		{store.TokenFilter{Family: "f1", UserID: v.ID}, 0, []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}},
		{store.TokenFilter{Family: "f1"}, 2, []string{"t3", "t4", "t5", "t6", "t7"}},
		{store.TokenFilter{ClientID: "c2", UserID: u.ID}, 2, []string{"t3", "t5", "t6"}},
		{store.TokenFilter{SID: "s3", ClientID: "c1"}, 1, []string{"t3", "t5"}},
		{store.TokenFilter{Family: "nope"}, 0, []string{"t3", "t5"}},
		{store.TokenFilter{UserID: v.ID}, 1, []string{"t3"}},
		{store.TokenFilter{SID: "s2", Family: "f2", ClientID: "c1", UserID: u.ID}, 1, nil},
	} {
		n, err := s.DeleteTokens(ctx, c.f)
		if err != nil || n != c.n {
			t.Errorf("DeleteTokens(%+v) = %d, %v; want %d", c.f, n, err, c.n)
		}
		left(c.left...)
	}
}

// testDeleteUnredeemedCodes: only the account's finished requests whose code is not exchanged go
// (of one client when named), a request finished a moment ago whose code is not written yet
// too; redeemed and replayed ones stay for replay detection, and so do other accounts'.
func testDeleteUnredeemedCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "fox")
	v := NewUser(t, s, "gil")
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	newAuthRequest(t, s, "u-c1", "c1", u.ID)
	newAuthRequest(t, s, "u-c2", "c2", u.ID)
	newAuthRequest(t, s, "v-c1", "c1", v.ID)
	for id, set := range map[string]func(a *store.AuthRequest){
		"u-redeemed": func(a *store.AuthRequest) { a.Redeemed = true },
		"u-replayed": func(a *store.AuthRequest) { a.Redeemed, a.Replayed = true, true },
		"u-no-code":  func(a *store.AuthRequest) { a.CodeHash, a.CodeExpiresAt = nil, time.Time{} },
	} {
		a := authRequestOf(id, "c1", u.ID)
		set(a)
		if err := s.CreateAuthRequest(ctx, a); err != nil {
			t.Fatalf("CreateAuthRequest(%q): %v", id, err)
		}
	}
	left := func(want ...string) {
		t.Helper()
		var got []string
		for _, id := range []string{"u-c1", "u-c2", "v-c1", "u-redeemed", "u-replayed", "u-no-code"} {
			if _, err := s.AuthRequest(ctx, id); err == nil {
				got = append(got, id)
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("AuthRequest(%q): %v", id, err)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("requests left = %v, want %v", got, want)
		}
	}
	if n, err := s.DeleteUnredeemedCodes(ctx, u.ID, "c2"); err != nil || n != 1 {
		t.Errorf("DeleteUnredeemedCodes(u, c2) = %d, %v; want 1", n, err)
	}
	left("u-c1", "v-c1", "u-redeemed", "u-replayed", "u-no-code")
	err := s.Update(ctx, func(q store.Queries) error {
		n, err := q.DeleteUnredeemedCodes(ctx, u.ID, "")
		if err == nil && n != 2 {
			err = fmt.Errorf("DeleteUnredeemedCodes(u) inside Update = %d, want 2", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	left("v-c1", "u-redeemed", "u-replayed")
}

func testTokenClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "fay")
	v := NewUser(t, s, "gus")
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		newClient(t, s, id, t0)
	}
	for _, x := range []struct {
		name, client string
		user         int64
		expires      time.Duration
	}{
		{"a", "c2", u.ID, time.Hour},
		{"b", "c1", u.ID, time.Minute},
		{"c", "c1", u.ID, 30 * 24 * time.Hour},
		{"d", "c3", u.ID, -time.Minute}, // expired
		{"e", "c4", u.ID, 0},            // expires now: not after it
		{"f", "c5", v.ID, time.Hour},    // another account's
	} {
		tok := tokenOf(x.name, "fam", x.client, x.user, "")
		tok.ExpiresAt = t0.Add(x.expires)
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := s.TokenClients(ctx, u.ID, t0); err != nil || !slices.Equal(ids, []string{"c1", "c2"}) {
		t.Errorf("TokenClients = %q, %v; want [c1 c2]", ids, err)
	}
	if ids, err := s.TokenClients(ctx, u.ID, t0.Add(-2*time.Minute)); err != nil || !slices.Equal(ids, []string{"c1", "c2", "c3", "c4"}) {
		t.Errorf("TokenClients two minutes earlier = %q, %v; want [c1 c2 c3 c4]", ids, err)
	}
	if ids, err := s.TokenClients(ctx, u.ID+v.ID+1000, t0); err != nil || len(ids) != 0 {
		t.Errorf("TokenClients of an account with none = %q, %v", ids, err)
	}
}

// testProviderExpirySweeps: each sweep removes only what is past its time, and answers how
// many it removed.
func testProviderExpirySweeps(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "hal")
	newClient(t, s, "app", t0)
	for i, age := range []time.Duration{2 * time.Minute, 61 * time.Second, 30 * time.Second, 0} {
		a := &store.AuthRequest{ID: fmt.Sprint("ar-", i), ClientID: "app", CreatedAt: t0.Add(-age)}
		if err := s.CreateAuthRequest(ctx, a); err != nil {
			t.Fatal(err)
		}
		tok := &store.Token{IDHash: hash(fmt.Sprint("tok-", i)), Kind: store.TokenAccess, Family: "f", ClientID: "app",
			UserID: u.ID, ExpiresAt: t0.Add(-age), CreatedAt: t0.Add(-time.Hour)}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSessionClient(ctx, fmt.Sprint("sid-", i), "app", u.ID, t0.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	before := t0.Add(-time.Minute)
	for _, sweep := range []struct {
		name string
		fn   func() (int, error)
	}{
		{"DeleteExpiredAuthRequests", func() (int, error) { return s.DeleteExpiredAuthRequests(ctx, before) }},
		{"DeleteExpiredTokens", func() (int, error) { return s.DeleteExpiredTokens(ctx, before) }},
		{"DeleteExpiredSessionClients", func() (int, error) { return s.DeleteExpiredSessionClients(ctx, before) }},
	} {
		if n, err := sweep.fn(); err != nil || n != 2 {
			t.Errorf("%s = %d, %v; want 2", sweep.name, n, err)
		}
		if n, err := sweep.fn(); err != nil || n != 0 {
			t.Errorf("%s again = %d, %v; want 0", sweep.name, n, err)
		}
	}
	for i := range 4 {
		want := i >= 2
		_, err := s.AuthRequest(ctx, fmt.Sprint("ar-", i))
		if (err == nil) != want {
			t.Errorf("auth request %d after the sweep: %v, want kept %v", i, err, want)
		}
		_, err = s.Token(ctx, hash(fmt.Sprint("tok-", i)))
		if (err == nil) != want {
			t.Errorf("token %d after the sweep: %v, want kept %v", i, err, want)
		}
		ids, err := s.SessionClients(ctx, fmt.Sprint("sid-", i))
		if err != nil || (len(ids) == 1) != want {
			t.Errorf("session clients %d after the sweep: %q, %v, want kept %v", i, ids, err, want)
		}
	}
}

// ---- consents

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "ida")
	v := NewUser(t, s, "jon")
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	_, err := s.Consent(ctx, u.ID, "c1")
	gone(t, "Consent before any", err)
	set := func(c *store.Consent) *store.Consent {
		t.Helper()
		if err := s.SetConsent(ctx, c); err != nil {
			t.Fatalf("SetConsent: %v", err)
		}
		return c
	}
	u1 := set(&store.Consent{UserID: u.ID, ClientID: "c1", Scopes: []string{"openid", "profile"}, CreatedAt: t0})
	u2 := set(&store.Consent{UserID: u.ID, ClientID: "c2", Scopes: []string{"openid"}, CreatedAt: t0.Add(time.Minute)})
	v1 := set(&store.Consent{UserID: v.ID, ClientID: "c1", CreatedAt: t0})
	list := func(userID int64, want ...*store.Consent) {
		t.Helper()
		cs, err := s.Consents(ctx, userID)
		if err != nil || len(cs) != len(want) {
			t.Fatalf("Consents = %d, %v; want %d", len(cs), err, len(want))
		}
		for i := range want {
			if d := diff(want[i], cs[i]); d != "" {
				t.Errorf("Consents[%d] (newest first): %s", i, d)
			}
		}
	}
	for _, want := range []*store.Consent{u1, u2, v1} {
		if got, err := s.Consent(ctx, want.UserID, want.ClientID); err != nil || diff(want, got) != "" {
			t.Errorf("Consent: %v, %s", err, diff(want, got))
		}
	}
	list(u.ID, u2, u1)

	// Asking for more replaces the consent.
	u1 = set(&store.Consent{UserID: u.ID, ClientID: "c1", Scopes: []string{"openid", "profile", "email"}, CreatedAt: t0.Add(2*time.Minute + 3)})
	if got, err := s.Consent(ctx, u.ID, "c1"); err != nil || diff(u1, got) != "" {
		t.Errorf("Consent after SetConsent again: %v, %s", err, diff(u1, got))
	}
	list(u.ID, u1, u2)
	list(v.ID, v1)

	if err := s.DeleteConsent(ctx, u.ID, "c1"); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	_, err = s.Consent(ctx, u.ID, "c1")
	gone(t, "Consent after DeleteConsent", err)
	gone(t, "DeleteConsent again", s.DeleteConsent(ctx, u.ID, "c1"))
	list(u.ID, u2)
	list(v.ID, v1)
	list(u.ID + v.ID + 1000)
}

// ---- signing keys

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys := func(want ...*store.SigningKey) {
		t.Helper()
		ks, err := s.SigningKeys(ctx)
		if err != nil || len(ks) != len(want) {
			t.Fatalf("SigningKeys = %d, %v; want %d", len(ks), err, len(want))
		}
		for i := range want {
			if d := diff(want[i], ks[i]); d != "" {
				t.Errorf("SigningKeys[%d] (%s, want %s newest first): %s", i, ks[i].ID, want[i].ID, d)
			}
		}
	}
	keys()
	var ks []*store.SigningKey
	for i := range 4 {
		k := &store.SigningKey{ID: fmt.Sprint("k", i+1), Sealed: []byte{0, byte(i), 0xff}, KeyVersion: i % 2,
			CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
		if i < 3 {
			if err := s.CreateSigningKey(ctx, k); err != nil {
				t.Fatalf("CreateSigningKey: %v", err)
			}
		}
		ks = append(ks, k)
	}
	k1, k2, k3, k4 := ks[0], ks[1], ks[2], ks[3]
	if err := s.CreateSigningKey(ctx, &store.SigningKey{ID: "k1", Sealed: []byte("x"), CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSigningKey of a taken id = %v, want ErrConflict", err)
	}
	keys(k3, k2, k1)

	// k3 signs: the others retire.
	if err := s.RetireSigningKeys(ctx, "k3", t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("RetireSigningKeys: %v", err)
	}
	k1.RetiredAt, k2.RetiredAt = t0.Add(3*time.Hour), t0.Add(3*time.Hour)
	keys(k3, k2, k1)
	// A rotation: k4 signs, k3 retires, and the keys retired before keep their time.
	if err := s.CreateSigningKey(ctx, k4); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	if err := s.RetireSigningKeys(ctx, "k4", t0.Add(5*time.Hour)); err != nil {
		t.Fatalf("RetireSigningKeys: %v", err)
	}
	k3.RetiredAt = t0.Add(5 * time.Hour)
	keys(k4, k3, k2, k1)

	// Only keys retired before the time go; a signing key never does.
	if err := s.DeleteSigningKeys(ctx, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("DeleteSigningKeys: %v", err)
	}
	keys(k4, k3, k2, k1)
	if err := s.DeleteSigningKeys(ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatalf("DeleteSigningKeys: %v", err)
	}
	keys(k4, k3)
	if err := s.DeleteSigningKeys(ctx, t0.Add(1000*time.Hour)); err != nil {
		t.Fatalf("DeleteSigningKeys: %v", err)
	}
	keys(k4)
}

// ---- the clients of a session

func testSessionClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "kai")
	v := NewUser(t, s, "lou")
	newClient(t, s, "c1", t0)
	newClient(t, s, "c2", t0)
	for _, r := range []struct {
		sid, client string
		user        int64
		at          time.Time
	}{
		{"s1", "c2", u.ID, t0.Add(time.Minute)},
		{"s1", "c1", u.ID, t0},
		{"s1", "c1", u.ID, t0.Add(5 * time.Minute)}, // recorded already: no error, the first stays
		{"s2", "c1", v.ID, t0.Add(2 * time.Minute)},
	} {
		if err := s.AddSessionClient(ctx, r.sid, r.client, r.user, r.at); err != nil {
			t.Fatalf("AddSessionClient(%s, %s): %v", r.sid, r.client, err)
		}
	}
	clients := func(sid string, want ...string) {
		t.Helper()
		if ids, err := s.SessionClients(ctx, sid); err != nil || !slices.Equal(ids, want) {
			t.Errorf("SessionClients(%s) = %q, %v; want %q", sid, ids, err, want)
		}
	}
	clients("s1", "c1", "c2")
	clients("s2", "c1")
	clients("none")
	if n, err := s.DeleteExpiredSessionClients(ctx, t0.Add(30*time.Second)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessionClients = %d, %v; want 1 (the first record of s1 and c1)", n, err)
	}
	clients("s1", "c2")
	deleted := func(sid string, want ...string) {
		t.Helper()
		if ids, err := s.DeleteSessionClients(ctx, sid); err != nil || !slices.Equal(ids, want) {
			t.Errorf("DeleteSessionClients(%s) = %q, %v; want %q", sid, ids, err, want)
		}
	}
	deleted("s1", "c2")
	clients("s1")
	clients("s2", "c1")
	deleted("s1") // none left: no error, none answered
	// What it answers is sorted, and only the sid's.
	for _, id := range []string{"c2", "c1"} {
		if err := s.AddSessionClient(ctx, "s3", id, u.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	deleted("s3", "c1", "c2")
	clients("s2", "c1")
}

// ---- inside Update

// testProviderQueriesInsideUpdate: every new query works inside Update and sees the
// transaction's own writes, refused keys included (an answer, not a failed transaction).
func testProviderQueriesInsideUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "max")
	check := func(what string, ok bool, err error) error {
		if err != nil || !ok {
			return fmt.Errorf("%s inside Update: %v", what, err)
		}
		return nil
	}
	err := s.Update(ctx, func(q store.Queries) error {
		c := clientOf("app", t0)
		if err := q.CreateClient(ctx, c); err != nil {
			return err
		}
		if err := q.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateClient of a taken id inside Update = %v", err)
		}
		c.Name = "renamed"
		if err := q.UpdateClient(ctx, c); err != nil {
			return err
		}
		got, err := q.Client(ctx, "app")
		if err := check("Client", err == nil && got.Name == "renamed", err); err != nil {
			return err
		}
		cs, err := q.Clients(ctx)
		if err := check("Clients", len(cs) == 1, err); err != nil {
			return err
		}
		got2, err := q.UserBySubject(ctx, u.Subject)
		if err := check("UserBySubject", err == nil && got2.ID == u.ID, err); err != nil {
			return err
		}
		a := authRequestOf("ar-1", "app", u.ID)
		if err := q.CreateAuthRequest(ctx, a); err != nil {
			return err
		}
		a.Redeemed = true
		if err := q.UpdateAuthRequest(ctx, a); err != nil {
			return err
		}
		ar, err := q.AuthRequestByCode(ctx, a.CodeHash)
		if err := check("AuthRequestByCode", err == nil && ar.Redeemed, err); err != nil {
			return err
		}
		ar, err = q.AuthRequest(ctx, a.ID)
		if err := check("AuthRequest", err == nil && ar.Redeemed, err); err != nil {
			return err
		}
		tok := tokenOf("r1", a.ID, "app", u.ID, "sid-1")
		for _, x := range []*store.Token{tok, tokenOf("r2", a.ID, "app", u.ID, "sid-1")} {
			if err := q.CreateToken(ctx, x); err != nil {
				return err
			}
		}
		if err := q.CreateToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateToken of a taken hash inside Update = %v", err)
		}
		ok, err := q.UseToken(ctx, tok.IDHash)
		if err := check("UseToken", ok, err); err != nil {
			return err
		}
		ok, err = q.UseToken(ctx, tok.IDHash)
		if err := check("UseToken again", !ok, err); err != nil {
			return err
		}
		got3, err := q.Token(ctx, tok.IDHash)
		if err := check("Token", err == nil && got3.Used, err); err != nil {
			return err
		}
		ids, err := q.TokenClients(ctx, u.ID, t0)
		if err := check("TokenClients", len(ids) == 1, err); err != nil {
			return err
		}
		n, err := q.DeleteTokens(ctx, store.TokenFilter{Family: a.ID})
		if err := check("DeleteTokens", n == 2, err); err != nil {
			return err
		}
		if err := q.SetConsent(ctx, &store.Consent{UserID: u.ID, ClientID: "app", Scopes: []string{"openid"}, CreatedAt: t0}); err != nil {
			return err
		}
		con, err := q.Consent(ctx, u.ID, "app")
		if err := check("Consent", err == nil && len(con.Scopes) == 1, err); err != nil {
			return err
		}
		cons, err := q.Consents(ctx, u.ID)
		if err := check("Consents", len(cons) == 1, err); err != nil {
			return err
		}
		if err := q.CreateSigningKey(ctx, &store.SigningKey{ID: "k1", Sealed: []byte("sealed"), CreatedAt: t0}); err != nil {
			return err
		}
		if err := q.RetireSigningKeys(ctx, "k0", t0); err != nil {
			return err
		}
		ks, err := q.SigningKeys(ctx)
		if err := check("SigningKeys", len(ks) == 1 && ks[0].RetiredAt.Equal(t0), err); err != nil {
			return err
		}
		if err := q.AddSessionClient(ctx, "sid-1", "app", u.ID, t0); err != nil {
			return err
		}
		if err := q.AddSessionClient(ctx, "sid-1", "app", u.ID, t0); err != nil {
			return err
		}
		sc, err := q.SessionClients(ctx, "sid-1")
		return check("SessionClients", len(sc) == 1, err)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	// Everything is visible after the commit.
	if c, err := s.Client(ctx, "app"); err != nil || c.Name != "renamed" {
		t.Errorf("Client = %+v, %v", c, err)
	}
	if a, err := s.AuthRequest(ctx, "ar-1"); err != nil || !a.Redeemed {
		t.Errorf("AuthRequest = %+v, %v", a, err)
	}
	_, err = s.Token(ctx, hash("tok-r1"))
	gone(t, "a token DeleteTokens removed inside Update", err)
	if _, err := s.Consent(ctx, u.ID, "app"); err != nil {
		t.Errorf("Consent: %v", err)
	}
	if ks, err := s.SigningKeys(ctx); err != nil || len(ks) != 1 {
		t.Errorf("SigningKeys = %d, %v", len(ks), err)
	}
	if ids, err := s.SessionClients(ctx, "sid-1"); err != nil || len(ids) != 1 {
		t.Errorf("SessionClients = %q, %v", ids, err)
	}
}

// testProviderUpdateRollsBack: nothing the provider wrote in a failed Update stays.
func testProviderUpdateRollsBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "ned")
	newClient(t, s, "kept", t0)
	err := s.Update(ctx, func(q store.Queries) error {
		if err := q.CreateClient(ctx, clientOf("app", t0)); err != nil {
			return err
		}
		if err := q.CreateAuthRequest(ctx, authRequestOf("ar-1", "app", u.ID)); err != nil {
			return err
		}
		if err := q.CreateToken(ctx, tokenOf("r1", "ar-1", "kept", u.ID, "sid-1")); err != nil {
			return err
		}
		if err := q.SetConsent(ctx, &store.Consent{UserID: u.ID, ClientID: "kept", CreatedAt: t0}); err != nil {
			return err
		}
		if err := q.CreateSigningKey(ctx, &store.SigningKey{ID: "k1", Sealed: []byte("sealed"), CreatedAt: t0}); err != nil {
			return err
		}
		if err := q.AddSessionClient(ctx, "sid-1", "kept", u.ID, t0); err != nil {
			return err
		}
		if err := q.DeleteClient(ctx, "kept"); err != nil {
			return err
		}
		return errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if cs, err := s.Clients(ctx); err != nil || len(cs) != 1 || cs[0].ID != "kept" {
		t.Errorf("Clients after a rolled back Update = %d, %v; want only the one before", len(cs), err)
	}
	_, err = s.AuthRequest(ctx, "ar-1")
	gone(t, "AuthRequest after a rolled back Update", err)
	_, err = s.Token(ctx, hash("tok-r1"))
	gone(t, "Token after a rolled back Update", err)
	_, err = s.Consent(ctx, u.ID, "kept")
	gone(t, "Consent after a rolled back Update", err)
	if ks, err := s.SigningKeys(ctx); err != nil || len(ks) != 0 {
		t.Errorf("SigningKeys after a rolled back Update = %d, %v", len(ks), err)
	}
	if ids, err := s.SessionClients(ctx, "sid-1"); err != nil || len(ids) != 0 {
		t.Errorf("SessionClients after a rolled back Update = %q, %v", ids, err)
	}
}
