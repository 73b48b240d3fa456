package storetest

import (
	"errors"
	"testing"

	"github.com/twofold-auth/twofold/internal/store"
)

// driftTests are the cases of an account's last wrong code's offset (SPEC §10 "Clock drift").
var driftTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"CodeDrift", testCodeDrift},
}

func testCodeDrift(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, "drifter")
	v := NewUser(t, s, "steady")
	if _, err := s.CodeDrift(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CodeDrift before any = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCodeDrift(ctx, u.ID); err != nil {
		t.Fatalf("DeleteCodeDrift of none: %v", err)
	}
	err := s.Update(ctx, func(q store.Queries) error {
		if err := q.SetCodeDrift(ctx, u.ID, store.CodeDrift{Steps: 6, Step: 65_000_006, Failure: 1}); err != nil {
			return err
		}
		return q.SetCodeDrift(ctx, u.ID, store.CodeDrift{Steps: -14, Step: 65_000_987, Failure: 2}) // replaces
	})
	if err != nil {
		t.Fatalf("SetCodeDrift: %v", err)
	}
	if d, err := s.CodeDrift(ctx, u.ID); err != nil || d != (store.CodeDrift{Steps: -14, Step: 65_000_987, Failure: 2}) {
		t.Errorf("CodeDrift = %+v, %v; want the second one written", d, err)
	}
	if _, err := s.CodeDrift(ctx, v.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CodeDrift of another account = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCodeDrift(ctx, u.ID); err != nil {
		t.Fatalf("DeleteCodeDrift: %v", err)
	}
	if _, err := s.CodeDrift(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CodeDrift after DeleteCodeDrift = %v, want ErrNotFound", err)
	}
}
