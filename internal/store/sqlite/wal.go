package sqlite

import (
	"fmt"
	"os"
)

// walFile is the descriptor the syncer (commit.go) syncs the -wal file through.
type walFile struct {
	path string
	f    *os.File
	info os.FileInfo // of f, to notice the name pointing at another file
}

func openWAL(path string) (*walFile, error) {
	w := &walFile{path: path}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *walFile) open() error {
	// Opened for writing, though nothing is written through it: some systems sync only what
	// a descriptor open for writing may have written.
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite: opening the WAL to sync it: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("sqlite: opening the WAL to sync it: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.info = f, info
	return nil
}

// sync makes every frame written to the WAL so far durable. When the WAL's name has come to
// name another file (see commit.go) it syncs that one, the writer's, from then on.
func (w *walFile) sync() error {
	cur, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("sqlite: the WAL %s: %w", w.path, err)
	}
	if !os.SameFile(cur, w.info) {
		if err := w.f.Sync(); err != nil { // the old one's last frames, for what they are worth
			return fmt.Errorf("sqlite: sync %s: %w", w.path, err)
		}
		if err := w.open(); err != nil {
			return err
		}
	}
	if err := datasync(w.f); err != nil {
		return fmt.Errorf("sqlite: sync %s: %w", w.path, err)
	}
	return nil
}

func (w *walFile) close() {
	if w != nil && w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
