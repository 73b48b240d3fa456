package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// testWebAuthnCredentials: keys round-trip, a credential id is registered once among all
// accounts, the account reads whether it holds a usable key, a use is written, and keys go
// one by one, with their account's reset, or with the account.
func testWebAuthnCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	if getUser(t, s, alice.ID).SecurityKey {
		t.Fatal("SecurityKey = true before any key")
	}
	k1 := &store.WebAuthnCredential{UserID: alice.ID, CredentialID: []byte("cred-1"), PublicKey: []byte{1, 2, 3},
		SignCount: 4, Transports: []string{"usb"}, Flags: 0x19, AttestationType: "none", AAGUID: bytes.Repeat([]byte{7}, 16),
		Name: "YubiKey", CreatedAt: t0}
	k2 := &store.WebAuthnCredential{UserID: alice.ID, CredentialID: []byte("cred-2"), PublicKey: []byte{4},
		Name: "Phone", CreatedAt: t0.Add(time.Second)}
	for _, k := range []*store.WebAuthnCredential{k1, k2} {
		if err := s.AddWebAuthnCredential(ctx, k); err != nil || k.ID == 0 {
			t.Fatalf("AddWebAuthnCredential = %v, id %d", err, k.ID)
		}
	}
	dup := &store.WebAuthnCredential{UserID: bob.ID, CredentialID: []byte("cred-1"), PublicKey: []byte{9}, Name: "x", CreatedAt: t0}
	if err := s.AddWebAuthnCredential(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddWebAuthnCredential of a registered credential id = %v, want ErrConflict", err)
	}
	got, err := s.WebAuthnCredentials(ctx, alice.ID)
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0], k1) || !reflect.DeepEqual(got[1], k2) {
		t.Fatalf("WebAuthnCredentials = %+v, %v; want %+v, %+v", got, err, k1, k2)
	}
	for _, u := range []func() (*store.User, error){
		func() (*store.User, error) { return s.User(ctx, alice.ID) },
		func() (*store.User, error) { return s.UserByName(ctx, "alice") },
	} {
		if u, err := u(); err != nil || !u.SecurityKey {
			t.Fatalf("SecurityKey = false with two keys (%v)", err)
		}
	}
	if getUser(t, s, bob.ID).SecurityKey {
		t.Fatal("bob's SecurityKey = true without keys")
	}

	k1.SignCount, k1.Flags, k1.LastUsedAt, k1.Disabled = 9, 0x1d, t0.Add(time.Hour), true
	if err := s.UpdateWebAuthnCredential(ctx, k1); err != nil {
		t.Fatalf("UpdateWebAuthnCredential: %v", err)
	}
	if got, _ := s.WebAuthnCredentials(ctx, alice.ID); !reflect.DeepEqual(got[0], k1) {
		t.Fatalf("after UpdateWebAuthnCredential: %+v, want %+v", got[0], k1)
	}
	if err := s.DeleteWebAuthnCredential(ctx, bob.ID, k2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteWebAuthnCredential of another account's key = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebAuthnCredential(ctx, alice.ID, k2.ID); err != nil {
		t.Fatalf("DeleteWebAuthnCredential: %v", err)
	}
	if getUser(t, s, alice.ID).SecurityKey {
		t.Fatal("SecurityKey = true with only a disabled key")
	}
	if err := s.DeleteWebAuthnCredentials(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteWebAuthnCredentials: %v", err)
	}
	if got, err := s.WebAuthnCredentials(ctx, alice.ID); err != nil || len(got) != 0 {
		t.Fatalf("WebAuthnCredentials after DeleteWebAuthnCredentials = %v, %v", got, err)
	}
	if err := s.UpdateWebAuthnCredential(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateWebAuthnCredential of a removed key = %v, want ErrNotFound", err)
	}
}

// testWebAuthnChallenge: a challenge is the session's one, replaced by a newer one, taken
// once, and pruned when old.
func testWebAuthnChallenge(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := []byte("session-a"), []byte("session-b")
	if _, err := s.TakeWebAuthnChallenge(ctx, a); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeWebAuthnChallenge of none = %v, want ErrNotFound", err)
	}
	put := func(id []byte, data string, at time.Time) {
		t.Helper()
		if err := s.PutWebAuthnChallenge(ctx, id, store.WebAuthnChallenge{Data: []byte(data), CreatedAt: at}, t0.Add(-5*time.Minute)); err != nil {
			t.Fatalf("PutWebAuthnChallenge: %v", err)
		}
	}
	put(a, "first", t0)
	put(a, "second", t0.Add(time.Second))
	put(b, "old", t0.Add(-time.Hour))
	put([]byte("session-c"), "new", t0) // prunes b's, older than 5 minutes before t0
	got, err := s.TakeWebAuthnChallenge(ctx, a)
	if err != nil || string(got.Data) != "second" || !got.CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("TakeWebAuthnChallenge = %q at %v, %v; want the second", got.Data, got.CreatedAt, err)
	}
	if _, err := s.TakeWebAuthnChallenge(ctx, a); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeWebAuthnChallenge again = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeWebAuthnChallenge(ctx, b); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeWebAuthnChallenge of a pruned challenge = %v, want ErrNotFound", err)
	}
	// Inside Update as well: the take is undone with the transaction.
	put(a, "third", t0)
	errRollback := errors.New("rollback")
	err = s.Update(ctx, func(q store.Queries) error {
		if _, err := q.TakeWebAuthnChallenge(ctx, a); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v", err)
	}
	if got, err := s.TakeWebAuthnChallenge(ctx, a); err != nil || string(got.Data) != "third" {
		t.Fatalf("TakeWebAuthnChallenge after a rollback = %q, %v", got.Data, err)
	}
}

// testTwoHandleChallengeOnce takes one challenge through two handles at once, many times:
// exactly one taker gets it each time.
func testTwoHandleChallengeOnce(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	for i := range 20 {
		id := []byte{byte(i), 'c'}
		if err := a.PutWebAuthnChallenge(ctx, id, store.WebAuthnChallenge{Data: []byte("x"), CreatedAt: time.Now()}, time.Now().Add(-time.Hour)); err != nil {
			t.Fatalf("PutWebAuthnChallenge: %v", err)
		}
		var wg sync.WaitGroup
		results := make(chan error, 4)
		for _, s := range []store.Store{a, b, a, b} {
			wg.Go(func() {
				err := s.Update(ctx, func(q store.Queries) error {
					_, err := q.TakeWebAuthnChallenge(ctx, id)
					return err
				})
				results <- err
			})
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("TakeWebAuthnChallenge: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d takers got the challenge, want 1", i, won)
		}
	}
}
