package sqlite_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/sqlite"
)

// withUmask sets the process's umask for the test. Not for parallel tests: the umask is the
// whole process's.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// fileModes answers the permission bits of every file and folder under dir, dir itself left out.
func fileModes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	modes := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		modes[rel] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return modes
}

// TestFilesOwnerOnly checks SPEC §5 for the database: under umask 022, in a folder that existed
// with mode 0755, the database file and its -wal and -shm files are made readable by their
// owner only, and so are those of a file left readable by others before.
func TestFilesOwnerOnly(t *testing.T) {
	withUmask(t, 0o022)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "twofold.db")
	check := func(when string, want ...string) {
		t.Helper()
		modes := fileModes(t, dir)
		for _, name := range want {
			if _, ok := modes[name]; !ok {
				t.Errorf("%s: %s missing (files: %v)", when, name, modes)
			}
		}
		for name, mode := range modes {
			if mode.Perm() != 0o600 || !mode.IsRegular() {
				t.Errorf("%s: %s has mode %v, want -rw-------", when, name, mode)
			}
		}
	}
	write := func(db *sqlite.DB, action string) {
		t.Helper()
		if err := db.AddEvent(ctx, &store.Event{At: time.Unix(1, 0), Action: action}); err != nil {
			t.Fatal(err)
		}
	}

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	write(db, "first")
	check("while open", "twofold.db", "twofold.db-wal", "twofold.db-shm")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close", "twofold.db")

	// A file that an earlier version left readable by others, with its WAL.
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	write(db, "second")
	for _, name := range []string{"twofold.db", "twofold.db-wal", "twofold.db-shm"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	write(db2, "third")
	check("reopened", "twofold.db", "twofold.db-wal", "twofold.db-shm")
	db2.Close()
	db.Close()
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("the folder that existed: %v, %v; want it left at 0755", info.Mode(), err)
	}
}
