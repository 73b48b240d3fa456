package sqlite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWALFileFollowsItsName makes the -wal file anew under its name, as SQLite does once every
// connection to the file has closed: the next sync is of the new file, the one SQLite writes.
// With no file under the name, the sync fails.
func TestWALFileFollowsItsName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.db-wal")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWAL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	synced, err := w.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := os.Stat(path); err != nil || !os.SameFile(synced, cur) {
		t.Errorf("the sync after the WAL was made anew was not of the new file (%v)", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err == nil {
		t.Error("a sync with no file under the WAL's name answered nil")
	}
}
