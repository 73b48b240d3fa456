package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// TestCheckpointFromReader shows that the background checkpoint, run on a read-only
// connection, does copy committed pages back into the database file.
func TestCheckpointFromReader(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "twofold.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.stopCheckpoints() // drive it by hand
	for i := range 50 {
		if err := db.AddEvent(ctx, &store.Event{At: time.Unix(int64(i), 0), Actor: "t", Action: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	_, logPages, done, err := db.checkpoint(ctx)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if logPages == 0 || done != logPages {
		t.Fatalf("checkpoint copied %d of %d WAL pages, want all of them", done, logPages)
	}
}
