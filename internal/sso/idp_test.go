package sso_test

// A real OpenID Provider inside the test process: zitadel/oidc's op package with its example
// in-memory storage, served by httptest on a loopback address. Only the person's part is
// played by the test (the login page "types" the username chosen by the test, or refuses
// consent); discovery, the authorization endpoint, PKCE, the code exchange, ID token signing,
// the key set and UserInfo are the library's own.
//
// A few switches make the provider misbehave the way the tests need, always through the
// library: codes that have expired, ID tokens for another audience or already expired, and a
// token request that reaches the provider under another host name, so that it signs an ID
// token with another issuer.

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

const (
	idpClientID     = "twofold"
	idpClientSecret = "client-secret-for-tests"
	idpPassword     = "provider-password"
	// otherClientID is another application registered at the same provider.
	otherClientID     = "another-client"
	otherClientSecret = "another-secret"
)

// idpUser is a person known to the provider.
type idpUser struct {
	id, username, email string
	emailVerified       bool
}

type userStore struct{ users map[string]*storage.User }

func (u userStore) GetUserByID(id string) *storage.User { return u.users[id] }
func (u userStore) ExampleClientID() string             { return "service" }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u.users {
		if x.Username == name || x.Email == name {
			return x
		}
	}
	return nil
}

// switches make the provider misbehave; the zero value is a well-behaved provider.
type switches struct {
	expiredCodes    bool
	idTokenLifetime time.Duration // 0: the client's default (1 h)
	claimsInIDToken bool          // profile and email claims in the ID token, not only UserInfo
	// usernameInUserInfo keeps preferred_username out of the ID token (with claimsInIDToken:
	// the email is there, the username only in UserInfo)
	usernameInUserInfo bool
}

// idpStorage is the example storage with the switches applied.
type idpStorage struct {
	*storage.Storage
	mu sync.Mutex
	sw switches
}

func (s *idpStorage) switches() switches {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sw
}

func (s *idpStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	sw := s.switches()
	if sw.expiredCodes {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code expired")
	}
	return s.Storage.AuthRequestByCode(ctx, code)
}

func (s *idpStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, r, scopes); err != nil {
		return err
	}
	if s.switches().usernameInUserInfo {
		ui.PreferredUsername = ""
	}
	return nil
}

func (s *idpStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	sw := s.switches()
	return tunedClient{Client: c, sw: sw}, nil
}

type tunedClient struct {
	op.Client
	sw switches
}

func (c tunedClient) IDTokenUserinfoClaimsAssertion() bool { return c.sw.claimsInIDToken }
func (c tunedClient) IDTokenLifetime() time.Duration {
	if c.sw.idTokenLifetime != 0 {
		return c.sw.idTokenLifetime
	}
	return c.Client.IDTokenLifetime()
}

// idp is the running provider.
type idp struct {
	srv     *httptest.Server
	issuer  string // http://localhost:PORT: another host name than Twofold's 127.0.0.1, for the cookie jar
	op      *op.Provider
	storage *idpStorage

	mu      sync.Mutex
	login   string // the username the person types at the provider
	deny    bool   // the person refuses consent
	logins  int
	tokens  int
	stopped bool
}

func newIdP(t *testing.T, redirectURL string, users ...idpUser) *idp {
	t.Helper()
	us := userStore{users: map[string]*storage.User{}}
	for _, u := range users {
		us.users[u.id] = &storage.User{ID: u.id, Username: u.username, Password: idpPassword, FirstName: "Test",
			LastName: u.id, Email: u.email, EmailVerified: u.emailVerified, PreferredLanguage: language.English}
	}
	clients := map[string]*storage.Client{
		idpClientID:   storage.WebClient(idpClientID, idpClientSecret, redirectURL),
		otherClientID: storage.WebClient(otherClientID, otherClientSecret, redirectURL),
	}
	st := &idpStorage{Storage: storage.NewStorageWithClients(us, clients)}
	p := &idp{storage: st}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.close)
	p.issuer = strings.Replace(p.srv.URL, "127.0.0.1", "localhost", 1)

	provider, err := op.NewProvider(&op.Config{
		CryptoKey:      sha256.Sum256([]byte("idp test key")),
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, st, op.IssuerFromHost(""), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	p.op = provider
	mux.Handle("/login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(p.loginPage))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			p.mu.Lock()
			p.tokens++
			p.mu.Unlock()
		}
		provider.ServeHTTP(w, r)
	}))
	return p
}

// loginPage is the provider's own sign-in page, where the person proves who they are (the
// password they type is the test's) or refuses consent.
func (p *idp) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("authRequestID")
	p.mu.Lock()
	user, deny := p.login, p.deny
	p.logins++
	p.mu.Unlock()
	if deny {
		ar, err := p.storage.AuthRequestByID(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op.AuthRequestError(w, r, ar, oidc.ErrAccessDenied().WithDescription("The user refused consent."), p.op)
		return
	}
	if err := p.storage.CheckUsernamePassword(user, idpPassword, id); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

func (p *idp) as(username string) {
	p.mu.Lock()
	p.login, p.deny = username, false
	p.mu.Unlock()
}

func (p *idp) refuseConsent() {
	p.mu.Lock()
	p.deny = true
	p.mu.Unlock()
}

func (p *idp) set(sw switches) {
	p.storage.mu.Lock()
	p.storage.sw = sw
	p.storage.mu.Unlock()
}

func (p *idp) tokenRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens
}

// close stops the provider: from then on it cannot be reached.
func (p *idp) close() {
	p.mu.Lock()
	stopped := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if !stopped {
		p.srv.CloseClientConnections()
		p.srv.Close()
	}
}

// hostRewriter tampers with Twofold's token requests on their way to the provider. With a
// host set, they reach the provider under that host name, and the provider issues the ID token
// in the name of that other issuer. With a client set, they carry that client's credentials:
// the provider then issues the tokens to that other application.
type hostRewriter struct {
	base   http.RoundTripper
	mu     sync.Mutex
	host   string
	client [2]string
}

func (h *hostRewriter) set(host string) {
	h.mu.Lock()
	h.host = host
	h.mu.Unlock()
}

func (h *hostRewriter) asClient(id, secret string) {
	h.mu.Lock()
	h.client = [2]string{id, secret}
	h.mu.Unlock()
}

func (h *hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	host, client := h.host, h.client
	h.mu.Unlock()
	if r.URL.Path == "/oauth/token" && (host != "" || client[0] != "") {
		r = r.Clone(r.Context())
		if host != "" {
			r.Host = host
		}
		if client[0] != "" {
			r.SetBasicAuth(client[0], client[1])
		}
	}
	return h.base.RoundTrip(r)
}

// TestMain quiets the provider library, which logs through slog's default logger.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
