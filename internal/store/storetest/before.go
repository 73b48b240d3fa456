package storetest

import (
	"context"
	"sync"

	"github.com/twofold-auth/twofold/internal/store"
)

// Before is a store that runs a hook, once, before the first transaction begun after the hook
// is set (Arm): what another request commits just before this one's transaction, as it would
// on another instance. The hook runs outside any transaction of this store.
type Before struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

// Arm sets the hook that the next transaction runs first.
func (s *Before) Arm(hook func()) {
	s.mu.Lock()
	s.hook = hook
	s.mu.Unlock()
}

func (s *Before) Update(ctx context.Context, fn func(q store.Queries) error) error {
	s.mu.Lock()
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return s.Store.Update(ctx, fn)
}
