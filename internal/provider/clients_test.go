package provider_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/clock"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/store"
)

// clientsApp opens Twofold on a loopback base URL, so that it is a provider.
func clientsApp(t *testing.T) *app.App {
	t.Helper()
	a := apptest.Open(t, app.Config{BaseURL: "http://127.0.0.1:8080", Clock: clock.NewFake(time.Now().UTC().Truncate(time.Second))})
	if a.Provider == nil {
		t.Fatal("no provider on a loopback base URL")
	}
	return a
}

var clAdmin = account.Actor{Name: "root", Admin: true}

// clSpec is a registration that every rule admits.
func clSpec() provider.ClientSpec {
	return provider.ClientSpec{Name: "Grafana", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}}
}

func clEvents(t *testing.T, st store.Store, action string) []*store.Event {
	t.Helper()
	es, err := st.Events(context.Background(), store.EventFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestAddClientRefusals: every registration that breaks a rule of SPEC §7 is refused with
// invalid_request naming its field, and stores nothing, not even an audit event.
func TestAddClientRefusals(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	long := "https://app.example.com/" + strings.Repeat("a", 2048)
	many := make([]string, 21)
	for i := range many {
		many[i] = "https://app.example.com/cb" + strings.Repeat("x", i)
	}
	for _, tt := range []struct {
		name  string
		spec  func(*provider.ClientSpec)
		field string
	}{
		{"no name", func(s *provider.ClientSpec) { s.Name = "  " }, "name"},
		{"long name", func(s *provider.ClientSpec) { s.Name = strings.Repeat("é", 101) }, "name"},
		{"control in name", func(s *provider.ClientSpec) { s.Name = "Graf\x1b[2Jana" }, "name"},
		{"override in name", func(s *provider.ClientSpec) { s.Name = "evil\u202etxt" }, "name"},
		{"no redirect", func(s *provider.ClientSpec) { s.RedirectURIs = nil }, "redirect_uris"},
		{"empty redirect", func(s *provider.ClientSpec) { s.RedirectURIs = []string{""} }, "redirect_uris"},
		{"http elsewhere", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"http://app.example.com/cb"} }, "redirect_uris"},
		{"http on a private address", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"http://10.0.0.1/cb"} }, "redirect_uris"},
		{"http on localhost.example.com", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"http://localhost.example.com/cb"} }, "redirect_uris"},
		{"fragment", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb#x"} }, "redirect_uris"},
		{"empty fragment", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb#"} }, "redirect_uris"},
		{"relative", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"/callback"} }, "redirect_uris"},
		{"no scheme", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"app.example.com/cb"} }, "redirect_uris"},
		{"opaque", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https:app.example.com/cb"} }, "redirect_uris"},
		{"custom scheme", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"com.example.app://cb"} }, "redirect_uris"},
		{"javascript", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"javascript://alert(1)"} }, "redirect_uris"},
		{"userinfo", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://user:pw@app.example.com/cb"} }, "redirect_uris"},
		{"wildcard host", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://*.example.com/cb"} }, "redirect_uris"},
		{"space", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/c b"} }, "redirect_uris"},
		{"newline", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb\n"} }, "redirect_uris"},
		{"non-ASCII", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/ça"} }, "redirect_uris"},
		{"bad port", func(s *provider.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com:99999/cb"} }, "redirect_uris"},
		{"too long", func(s *provider.ClientSpec) { s.RedirectURIs = []string{long} }, "redirect_uris"},
		{"too many", func(s *provider.ClientSpec) { s.RedirectURIs = many }, "redirect_uris"},
		{"one good one bad", func(s *provider.ClientSpec) {
			s.RedirectURIs = []string{"https://app.example.com/cb", "http://app.example.com/cb"}
		}, "redirect_uris"},
		{"post-logout http", func(s *provider.ClientSpec) { s.PostLogoutRedirectURIs = []string{"http://app.example.com/"} }, "post_logout_redirect_uris"},
		{"post-logout fragment", func(s *provider.ClientSpec) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/#bye"} }, "post_logout_redirect_uris"},
		{"post-logout too many", func(s *provider.ClientSpec) { s.PostLogoutRedirectURIs = many }, "post_logout_redirect_uris"},
		{"back-channel http", func(s *provider.ClientSpec) { s.BackchannelLogoutURI = "http://app.example.com/logout" }, "backchannel_logout_uri"},
		{"back-channel relative", func(s *provider.ClientSpec) { s.BackchannelLogoutURI = "/logout" }, "backchannel_logout_uri"},
		{"group upper case", func(s *provider.ClientSpec) { s.Groups = []string{"Staff"} }, "groups"},
		{"group empty", func(s *provider.ClientSpec) { s.Groups = []string{""} }, "groups"},
		{"group with space", func(s *provider.ClientSpec) { s.Groups = []string{"a b"} }, "groups"},
		{"group too long", func(s *provider.ClientSpec) { s.Groups = []string{strings.Repeat("g", 65)} }, "groups"},
		{"too many groups", func(s *provider.ClientSpec) {
			for i := range 65 {
				s.Groups = append(s.Groups, "g"+strings.Repeat("x", i))
			}
		}, "groups"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := clSpec()
			tt.spec(&spec)
			v, secret, err := a.Provider.AddClient(ctx, clAdmin, spec)
			e := errs.As(err)
			if err == nil || e.Code != errs.Invalid || e.Field != tt.field {
				t.Fatalf("AddClient: %v, %q, %v (field %q); want invalid_request about %s", v, secret, err, e.Field, tt.field)
			}
			if strings.ContainsFunc(e.Message, account.UnsafeRune) {
				t.Errorf("the refusal repeats a control character: %q", e.Message)
			}
		})
	}
	if list, err := a.Store.Clients(ctx); err != nil || len(list) != 0 {
		t.Errorf("refused registrations stored %d clients (%v)", len(list), err)
	}
	if es := clEvents(t, a.Store, provider.ActionClientAdded); len(es) != 0 {
		t.Errorf("refused registrations were audited: %v", es)
	}
}

// TestAddClientAdmits: loopback hosts over http, queries and a '*' in a path (kept as it is
// and matched exactly) are admitted; repeats are dropped and groups sorted.
func TestAddClientAdmits(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	spec := provider.ClientSpec{Name: "  CLI tool  ", Public: true,
		RedirectURIs: []string{"http://127.0.0.1:8400/cb", "http://127.9.9.9/cb", "http://[::1]:8400/cb",
			"http://localhost/cb", "http://LOCALHOST:1/cb", "https://app.example.com/cb?tenant=a&x=1",
			"https://app.example.com/cb/*", "HTTPS://APP.example.com/cb", "http://127.0.0.1:8400/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/"},
		BackchannelLogoutURI:   "https://app.example.com/backchannel",
		Groups:                 []string{"ops", "dev.team", "ops", "a_b-c"}}
	v, secret, err := a.Provider.AddClient(ctx, clAdmin, spec)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		t.Errorf("a public client got a secret %q", secret)
	}
	if v.Name != "CLI tool" {
		t.Errorf("name %q, want it without the white space around it", v.Name)
	}
	if want := spec.RedirectURIs[:8]; !slices.Equal(v.RedirectURIs, want) {
		t.Errorf("redirect URIs %q, want %q (as written, repeats dropped)", v.RedirectURIs, want)
	}
	if want := []string{"a_b-c", "dev.team", "ops"}; !slices.Equal(v.Groups, want) {
		t.Errorf("groups %q, want %q", v.Groups, want)
	}
	c, err := a.Store.Client(ctx, v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Public || c.SecretHash != nil || !slices.Equal(c.RedirectURIs, v.RedirectURIs) ||
		c.BackchannelLogoutURI != spec.BackchannelLogoutURI || !slices.Equal(c.Groups, v.Groups) {
		t.Errorf("stored %+v", c)
	}
}

// TestClientIDNeverAFlag: a client id never begins with "-", whatever the random bytes, so
// that "twofold client show ID" reads it as the id and not as an unknown flag. Bytes 0xfb
// would begin with "-" in base64url.
func TestClientIDNeverAFlag(t *testing.T) {
	a := apptest.Open(t, app.Config{BaseURL: "http://127.0.0.1:8080", Random: bytes.NewReader(bytes.Repeat([]byte{0xfb}, 1<<16))})
	v, _, err := a.Provider.AddClient(context.Background(), clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	if v.ClientID != strings.Repeat("fb", 16) {
		t.Errorf("client_id %q, want the 16 random bytes in lowercase hex", v.ClientID)
	}
}

// TestAddClient: a confidential client gets a random id and a 256-bit secret, shown once and
// stored only as its SHA-256; a public one gets none. The view is the one JSON shape, with
// lists that are never null and no hash. Only administrators may register, and every
// registration is audited.
func TestAddClient(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	if _, _, err := a.Provider.AddClient(ctx, account.Actor{Name: "bob"}, clSpec()); errs.Code(err) != errs.Forbidden {
		t.Fatalf("a non-admin registered a client: %v", err)
	}
	v, secret, err := a.Provider.AddClient(ctx, clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	id, err := hex.DecodeString(v.ClientID)
	if err != nil || len(id) != 16 || v.ClientID != strings.ToLower(v.ClientID) {
		t.Errorf("client_id %q is not 16 bytes of lowercase hex: %v", v.ClientID, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		t.Errorf("secret %q is not 32 bytes of base64url: %v", secret, err)
	}
	c, err := a.Store.Client(ctx, v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(c.SecretHash, sum[:]) || c.Public {
		t.Errorf("stored secret hash %x, want the SHA-256 of the secret", c.SecretHash)
	}

	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"client_id", "name", "public", "redirect_uris", "post_logout_redirect_uris",
		"backchannel_logout_uri", "require_mfa", "skip_consent", "groups", "created_at"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("the client's JSON has no %s: %s", k, b)
		}
	}
	if len(m) != len(want) {
		t.Errorf("the client's JSON has other fields: %s", b)
	}
	for _, k := range []string{"post_logout_redirect_uris", "groups"} {
		if l, ok := m[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, m[k])
		}
	}
	if _, err := time.Parse(time.RFC3339, m["created_at"].(string)); err != nil {
		t.Errorf("created_at: %v", err)
	}
	if bytes.Contains(b, []byte(secret)) {
		t.Errorf("the view holds the secret: %s", b)
	}

	pub := clSpec()
	pub.Name, pub.Public = "SPA", true
	pv, psecret, err := a.Provider.AddClient(ctx, clAdmin, pub)
	if err != nil || psecret != "" || !pv.Public {
		t.Fatalf("public client: %+v, %q, %v", pv, psecret, err)
	}
	if pc, err := a.Store.Client(ctx, pv.ClientID); err != nil || pc.SecretHash != nil {
		t.Errorf("the public client has a stored secret: %+v, %v", pc, err)
	}

	list, err := a.Provider.Clients(ctx, clAdmin)
	if err != nil || len(list) != 2 {
		t.Fatalf("Clients: %v, %v", list, err)
	}
	if _, err := a.Provider.Clients(ctx, account.Actor{Name: "bob"}); errs.Code(err) != errs.Forbidden {
		t.Errorf("a non-admin listed the clients: %v", err)
	}
	got, err := a.Provider.Client(ctx, clAdmin, v.ClientID)
	if err != nil || got.Name != "Grafana" {
		t.Errorf("Client: %+v, %v", got, err)
	}
	for _, id := range []string{"nope", "", strings.Repeat("a", 200), "a/b", "\x1b[2J"} {
		_, err := a.Provider.Client(ctx, clAdmin, id)
		if e := errs.As(err); e.Code != errs.NotFound || strings.ContainsFunc(e.Message, account.UnsafeRune) {
			t.Errorf("Client(%q): %v", id, err)
		}
	}
	es := clEvents(t, a.Store, provider.ActionClientAdded)
	if len(es) != 2 || es[1].Actor != "root" || !strings.Contains(es[1].Detail, v.ClientID) || !strings.Contains(es[1].Detail, "Grafana") {
		t.Errorf("audit of the registrations: %+v", es)
	}
}

// TestRotateClientSecret: a new secret replaces the stored hash, so the old secret stops
// working; a public client has none to replace.
func TestRotateClientSecret(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	v, old, err := a.Provider.AddClient(ctx, clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Provider.RotateClientSecret(ctx, account.Actor{Name: "bob"}, v.ClientID); errs.Code(err) != errs.Forbidden {
		t.Errorf("a non-admin rotated the secret: %v", err)
	}
	secret, err := a.Provider.RotateClientSecret(ctx, clAdmin, v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if secret == old || len(secret) != 43 {
		t.Errorf("new secret %q (old %q)", secret, old)
	}
	c, err := a.Store.Client(ctx, v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	sum, oldSum := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(old))
	if !bytes.Equal(c.SecretHash, sum[:]) || bytes.Equal(c.SecretHash, oldSum[:]) {
		t.Errorf("stored hash %x after rotation", c.SecretHash)
	}
	if c.Name != "Grafana" || !slices.Equal(c.RedirectURIs, clSpec().RedirectURIs) {
		t.Errorf("rotation changed the client: %+v", c)
	}
	if es := clEvents(t, a.Store, provider.ActionClientSecretRotated); len(es) != 1 || !strings.Contains(es[0].Detail, v.ClientID) {
		t.Errorf("audit of the rotation: %+v", es)
	}

	pub := clSpec()
	pub.Public = true
	pv, _, err := a.Provider.AddClient(ctx, clAdmin, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Provider.RotateClientSecret(ctx, clAdmin, pv.ClientID); errs.Code(err) != errs.Conflict {
		t.Errorf("rotating a public client's secret: %v, want conflict", err)
	}
	if pc, _ := a.Store.Client(ctx, pv.ClientID); pc.SecretHash != nil {
		t.Errorf("the public client got a secret")
	}
	if _, err := a.Provider.RotateClientSecret(ctx, clAdmin, "unknown"); errs.Code(err) != errs.NotFound {
		t.Errorf("rotating an unknown client: %v", err)
	}
}

// clSignedIn makes an account with MFA off and answers a finished session's token and its id.
func clSignedIn(t *testing.T, a *app.App, name string) (string, int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.Service.SetOption(ctx, account.CLI, "internalMFA", "off"); err != nil {
		t.Fatal(err)
	}
	_, pw, err := a.Service.CreateUser(ctx, account.CLI, account.NewUser{Username: name, Email: name + "@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Service.SignIn(ctx, account.SignInRequest{Username: name, Password: pw, Addr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = a.Service.ChangeTemporaryPassword(ctx, st.Token, "violet tangerine orbit 1987"); err != nil || st.Next != account.StepDone {
		t.Fatalf("new password: %+v, %v", st, err)
	}
	u, err := a.Store.UserByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Token, u.ID
}

// clGrant records what a sign-in to the client leaves: a consent and an access and a refresh
// token.
func clGrant(t *testing.T, a *app.App, userID int64, clientID string, n int) {
	t.Helper()
	ctx := context.Background()
	now := a.Clock.Now()
	if err := a.Store.SetConsent(ctx, &store.Consent{UserID: userID, ClientID: clientID, Scopes: []string{"openid", "email"},
		CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{store.TokenAccess, store.TokenRefresh} {
		hash := sha256.Sum256([]byte(clientID + kind + string(rune('a'+n)) + string(rune('0'+i))))
		if err := a.Store.CreateToken(ctx, &store.Token{IDHash: hash[:], Kind: kind, Family: clientID + string(rune('a'+n)),
			ClientID: clientID, UserID: userID, Scopes: []string{"openid"}, AuthTime: now, ExpiresAt: now.Add(time.Hour),
			CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

func clTokenClients(t *testing.T, a *app.App, userID int64) []string {
	t.Helper()
	ids, err := a.Store.TokenClients(context.Background(), userID, a.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRemoveClient: removing a client removes it with every token it holds and its consents;
// other clients keep theirs.
func TestRemoveClient(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	_, uid := clSignedIn(t, a, "alice")
	gone, _, err := a.Provider.AddClient(ctx, clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := a.Provider.AddClient(ctx, clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	clGrant(t, a, uid, gone.ClientID, 0)
	clGrant(t, a, uid, kept.ClientID, 1)
	if err := a.Provider.RemoveClient(ctx, account.Actor{Name: "bob"}, gone.ClientID); errs.Code(err) != errs.Forbidden {
		t.Errorf("a non-admin removed a client: %v", err)
	}
	if err := a.Provider.RemoveClient(ctx, clAdmin, gone.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Provider.Client(ctx, clAdmin, gone.ClientID); errs.Code(err) != errs.NotFound {
		t.Errorf("the removed client is still there: %v", err)
	}
	if got := clTokenClients(t, a, uid); !slices.Equal(got, []string{kept.ClientID}) {
		t.Errorf("clients holding tokens after the removal: %q, want only %s", got, kept.ClientID)
	}
	if _, err := a.Store.Consent(ctx, uid, gone.ClientID); err == nil {
		t.Errorf("the removed client's consent is still there")
	}
	if err := a.Provider.RemoveClient(ctx, clAdmin, gone.ClientID); errs.Code(err) != errs.NotFound {
		t.Errorf("removing it again: %v", err)
	}
	if es := clEvents(t, a.Store, provider.ActionClientRemoved); len(es) != 1 || !strings.Contains(es[0].Detail, gone.ClientID) {
		t.Errorf("audit of the removal: %+v", es)
	}
}

// TestApplicationsRemoveAccess: Profile > Applications lists the person's consents; "Remove
// access" withdraws the consent and revokes that person's tokens of that client, and nothing
// else.
func TestApplicationsRemoveAccess(t *testing.T) {
	a := clientsApp(t)
	ctx := context.Background()
	alice, aliceID := clSignedIn(t, a, "alice")
	_, bobID := clSignedIn(t, a, "bob")
	grafana, _, err := a.Provider.AddClient(ctx, clAdmin, clSpec())
	if err != nil {
		t.Fatal(err)
	}
	wikiSpec := clSpec()
	wikiSpec.Name = "Wiki"
	wiki, _, err := a.Provider.AddClient(ctx, clAdmin, wikiSpec)
	if err != nil {
		t.Fatal(err)
	}
	clGrant(t, a, aliceID, grafana.ClientID, 0)
	a.Clock.(*clock.Fake).Advance(time.Minute)
	clGrant(t, a, aliceID, wiki.ClientID, 1)
	clGrant(t, a, bobID, grafana.ClientID, 2)

	apps, err := a.Provider.Applications(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].Name != "Wiki" || apps[1].Name != "Grafana" || !slices.Equal(apps[1].Scopes, []string{"openid", "email"}) ||
		apps[1].ClientID != grafana.ClientID || apps[1].AllowedAt.IsZero() {
		t.Fatalf("Applications: %+v", apps)
	}
	if _, err := a.Provider.Applications(ctx, "not-a-session"); errs.Code(err) != errs.NotSignedIn {
		t.Errorf("Applications without a session: %v", err)
	}

	if err := a.Provider.RemoveAccess(ctx, alice, grafana.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.Consent(ctx, aliceID, grafana.ClientID); err == nil {
		t.Errorf("the consent is still there")
	}
	if got := clTokenClients(t, a, aliceID); !slices.Equal(got, []string{wiki.ClientID}) {
		t.Errorf("alice's clients holding tokens: %q, want only the wiki", got)
	}
	if got := clTokenClients(t, a, bobID); !slices.Equal(got, []string{grafana.ClientID}) {
		t.Errorf("bob's tokens were touched: %q", got)
	}
	if _, err := a.Store.Consent(ctx, bobID, grafana.ClientID); err != nil {
		t.Errorf("bob's consent is gone: %v", err)
	}
	if apps, _ := a.Provider.Applications(ctx, alice); len(apps) != 1 || apps[0].ClientID != wiki.ClientID {
		t.Errorf("Applications after the removal: %+v", apps)
	}
	if err := a.Provider.RemoveAccess(ctx, alice, grafana.ClientID); errs.Code(err) != errs.NotFound {
		t.Errorf("removing access again: %v", err)
	}
	if err := a.Provider.RemoveAccess(ctx, "not-a-session", wiki.ClientID); errs.Code(err) != errs.NotSignedIn {
		t.Errorf("RemoveAccess without a session: %v", err)
	}
	es := clEvents(t, a.Store, provider.ActionConsentRemoved)
	if len(es) != 1 || es[0].User != "alice" || es[0].Actor != "alice" || !strings.Contains(es[0].Detail, grafana.ClientID) ||
		!strings.Contains(es[0].Detail, "2 tokens") {
		t.Errorf("audit of the withdrawal: %+v", es)
	}
}
