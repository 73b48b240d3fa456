package provider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/postgres"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// TestRevocationWaitsForAGrant: on PostgreSQL, where a DELETE sees only the rows committed when
// it starts, a revocation that begins while a refresh is rotating the same family still
// revokes the tokens that rotation writes (SPEC §7: a refresh token used twice revokes its whole
// family; withdrawing consent revokes the application's tokens). The rotation is held inside
// its transaction, after writing its new tokens, until the revocation is seen waiting for a
// lock in PostgreSQL's own view of its sessions; no timing is assumed.
func TestRevocationWaitsForAGrant(t *testing.T) {
	for name, revoke := range map[string]func(p *Provider, u *store.User) error{
		"a refresh token used again": func(p *Provider, u *store.User) error {
			p.revokeFamily(context.Background(), "fam", u.ID, "app")
			return nil
		},
		"access removed": func(p *Provider, u *store.User) error {
			return p.removeAccess(context.Background(), u, "app")
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url, app := pgtest.WatchedURL(t)
			db, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			watch, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { watch.Close(context.Background()) })

			now := time.Now()
			u := userAndApp(t, db, "rae", now)
			r1 := &store.Token{IDHash: digest("r1"), Kind: store.TokenRefresh, Family: "fam", ClientID: "app", UserID: u.ID,
				Scopes: []string{"openid", "offline_access"}, AMR: []string{"pwd"}, AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			if err := db.CreateToken(ctx, r1); err != nil {
				t.Fatal(err)
			}

			inTx, release := make(chan struct{}), make(chan struct{})
			held := &holdingStore{Store: db, inTx: inTx, release: release}
			p := &Provider{st: held, now: time.Now, rand: rand.Reader, log: slog.New(slog.DiscardHandler)}
			var access, refresh string
			rotated := make(chan error, 1)
			go func() {
				var err error
				access, refresh, _, err = storage{p}.issue(ctx, &refreshRequest{t: r1, username: u.Username, scopes: r1.Scopes}, "r1", true)
				rotated <- err
			}()
			select {
			case <-inTx:
			case err := <-rotated:
				t.Fatalf("the rotation ended before writing its tokens: %v", err)
			}
			revoked := make(chan error, 1)
			go func() { revoked <- revoke(&Provider{st: db, now: time.Now, log: slog.New(slog.DiscardHandler)}, u) }()
			pgtest.WaitForLock(t, watch, app, revoked)
			close(release)
			if err := <-rotated; err != nil {
				t.Fatalf("rotation: %v", err)
			}
			if err := <-revoked; err != nil {
				t.Fatalf("revocation: %v", err)
			}
			for what, tok := range map[string]string{"access token": access, "refresh token": refresh} {
				if _, err := db.Token(ctx, digest(tok)); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the rotation's %s survived the revocation: %v", what, err)
				}
			}
		})
	}
}

// holdingStore holds its first transaction open, once it has written a refresh token, until
// release is closed.
type holdingStore struct {
	store.Store
	inTx    chan struct{}
	release chan struct{}
}

func (s *holdingStore) Update(ctx context.Context, fn func(q store.Queries) error) error {
	return s.Store.Update(ctx, func(q store.Queries) error {
		if err := fn(q); err != nil {
			return err
		}
		select {
		case <-s.inTx:
		default:
			close(s.inTx)
			<-s.release
		}
		return nil
	})
}

// TestCodeVoidedAfterRead: a code voided after its exchange read it (the account's standing
// changed, or its access was withdrawn, DeleteUnredeemedCodes) but before the exchange writes
// its tokens is refused invalid_grant, and writes none (SPEC §7: none outlives the account's
// standing).
func TestCodeVoidedAfterRead(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	u := userAndApp(t, db, "vic", now)
	body, _ := json.Marshal(request{Scopes: []string{"openid"}, RedirectURI: "https://app.example/cb"})
	if err := db.CreateAuthRequest(ctx, &store.AuthRequest{ID: "req", ClientID: "app", Request: body, CreatedAt: now,
		Done: true, UserID: u.ID, AuthTime: now, AMR: []string{"pwd"}, CodeHash: digest("code"), CodeExpiresAt: now.Add(CodeLifetime)}); err != nil {
		t.Fatal(err)
	}

	s := storage{&Provider{st: db, now: time.Now, rand: rand.Reader, log: slog.New(slog.DiscardHandler)}}
	ar, err := s.AuthRequestByCode(ctx, "code")
	if err != nil {
		t.Fatalf("the code before it was voided: %v", err)
	}
	if n, err := db.DeleteUnredeemedCodes(ctx, u.ID, ""); err != nil || n != 1 {
		t.Fatalf("voiding the code: %d, %v", n, err)
	}
	if _, _, _, err := s.issue(ctx, ar, "", true); !errors.Is(err, errCodeVoided) {
		t.Fatalf("exchanging a code voided after it was read: %v, want %v", err, errCodeVoided)
	}
	if n, err := db.DeleteTokens(ctx, store.TokenFilter{UserID: u.ID}); err != nil || n != 0 {
		t.Errorf("%d tokens written from a voided code (%v)", n, err)
	}
}

// userAndApp makes the account name (name@example.com) and the application "app" in db.
func userAndApp(t *testing.T, db store.Store, name string, now time.Time) *store.User {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Username: name, Email: name + "@example.com", Kind: "internal", Source: store.SourceLocal,
		Role: store.RoleUser, CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &store.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return u
}
