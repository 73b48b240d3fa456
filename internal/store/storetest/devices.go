package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// testRememberedDevices: devices round-trip and are found by their token hash, a token hash
// is stored once, a use is written, expired devices are pruned by a later addition, and
// devices go one by one or all of an account's at once.
func testRememberedDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	d1 := &store.RememberedDevice{UserID: alice.ID, TokenHash: []byte("hash-1"), Label: "Firefox on Linux",
		CreatedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)}
	d2 := &store.RememberedDevice{UserID: alice.ID, TokenHash: []byte("hash-2"), Label: "",
		CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(24 * time.Hour)}
	for _, d := range []*store.RememberedDevice{d1, d2} {
		if err := s.AddRememberedDevice(ctx, d, t0); err != nil || d.ID == 0 {
			t.Fatalf("AddRememberedDevice = %v, id %d", err, d.ID)
		}
	}
	dup := &store.RememberedDevice{UserID: bob.ID, TokenHash: []byte("hash-1"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.AddRememberedDevice(ctx, dup, t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddRememberedDevice of a stored token hash = %v, want ErrConflict", err)
	}
	got, err := s.RememberedDevices(ctx, alice.ID)
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0], d1) || !reflect.DeepEqual(got[1], d2) {
		t.Fatalf("RememberedDevices = %+v, %v; want %+v, %+v", got, err, d1, d2)
	}
	if d, err := s.RememberedDevice(ctx, []byte("hash-2")); err != nil || !reflect.DeepEqual(d, d2) {
		t.Fatalf("RememberedDevice = %+v, %v; want %+v", d, err, d2)
	}
	if _, err := s.RememberedDevice(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RememberedDevice of an unknown hash = %v, want ErrNotFound", err)
	}
	d1.LastUsedAt = t0.Add(time.Hour)
	if err := s.TouchRememberedDevice(ctx, d1.ID, d1.LastUsedAt); err != nil {
		t.Fatalf("TouchRememberedDevice: %v", err)
	}
	if d, _ := s.RememberedDevice(ctx, d1.TokenHash); !reflect.DeepEqual(d, d1) {
		t.Fatalf("after TouchRememberedDevice: %+v, want %+v", d, d1)
	}
	if err := s.DeleteRememberedDevice(ctx, bob.ID, d1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteRememberedDevice of another account's device = %v, want ErrNotFound", err)
	}

	// A device added after d2 expired prunes it.
	b1 := &store.RememberedDevice{UserID: bob.ID, TokenHash: []byte("hash-3"), CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}
	if err := s.AddRememberedDevice(ctx, b1, t0.Add(25*time.Hour)); err != nil {
		t.Fatalf("AddRememberedDevice: %v", err)
	}
	if _, err := s.RememberedDevice(ctx, d2.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired device after a later addition = %v, want ErrNotFound", err)
	}

	if err := s.DeleteRememberedDevice(ctx, alice.ID, d1.ID); err != nil {
		t.Fatalf("DeleteRememberedDevice: %v", err)
	}
	if err := s.TouchRememberedDevice(ctx, d1.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TouchRememberedDevice of a removed device = %v, want ErrNotFound", err)
	}
	b2 := &store.RememberedDevice{UserID: bob.ID, TokenHash: []byte("hash-4"), CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}
	if err := s.AddRememberedDevice(ctx, b2, t0); err != nil {
		t.Fatalf("AddRememberedDevice: %v", err)
	}
	if n, err := s.DeleteRememberedDevices(ctx, bob.ID); err != nil || n != 2 {
		t.Fatalf("DeleteRememberedDevices = %d, %v; want 2", n, err)
	}
	if got, err := s.RememberedDevices(ctx, bob.ID); err != nil || len(got) != 0 {
		t.Fatalf("RememberedDevices after DeleteRememberedDevices = %v, %v", got, err)
	}

	// In a transaction.
	d3 := &store.RememberedDevice{UserID: alice.ID, TokenHash: []byte("hash-5"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	err = s.Update(ctx, func(q store.Queries) error { return q.AddRememberedDevice(ctx, d3, t0) })
	if err != nil {
		t.Fatalf("AddRememberedDevice in Update: %v", err)
	}
	if d, err := s.RememberedDevice(ctx, d3.TokenHash); err != nil || d.ID != d3.ID {
		t.Fatalf("RememberedDevice after Update = %+v, %v", d, err)
	}
}
