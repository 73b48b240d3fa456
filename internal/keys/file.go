package keys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// maxFileLen bounds what is read from a key file: 64 characters and a newline, with room for
// an editor's extra white space.
const maxFileLen = 1024

// errIncomplete is a key file too short to hold a key: being written, or cut short.
var errIncomplete = errors.New("incomplete")

// Test hook: beforeCreate runs between finding no file and creating it.
var beforeCreate func()

// LoadOrCreateFile reads the server key from path, or, when there is no file, makes a new key
// with bytes from rand (crypto/rand.Reader when nil) and writes it there (64 hexadecimal
// characters and a newline, mode 0600), answering created = true. It refuses a file that group
// or other users may access, or that another user owns. When another process creates the file
// first, it reads that process's key, so that concurrent first starts agree.
func LoadOrCreateFile(path string, rand io.Reader) (k *Keys, created bool, err error) {
	k, err = loadSettled(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if beforeCreate != nil {
		beforeCreate()
	}
	k, err = createFile(path, rand)
	if errors.Is(err, fs.ErrExist) {
		k, err = loadSettled(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// LoadFile reads the server key from path, refusing, as LoadOrCreateFile does, a file that
// group or other users may access or that another user owns. A missing file is an error that
// matches fs.ErrNotExist.
func LoadFile(path string) (*Keys, error) { return loadSettled(path) }

// loadFile reads and parses a key file, checking its permissions on the open file itself so
// that a swap between check and read cannot slip a looser file in.
func loadFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err) // fs.ErrNotExist still matches, for the caller
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s has mode %04o, which lets other users read or change the server key; run: chmod 600 %s", path, perm, path)
	}
	// Mode 0600 keeps the key from everyone but the owner, so the owner must be Twofold's user.
	if uid, ok := fileOwner(info); ok && uid != os.Getuid() {
		return nil, fmt.Errorf("keys: %s belongs to user id %d, which can read the server key, not to the user Twofold runs as (%d); run, as that user or root: chown %d %s", path, uid, os.Getuid(), os.Getuid(), path)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxFileLen+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	if len(text) > maxFileLen {
		return nil, fmt.Errorf("keys: %s is too long to be a key file", path)
	}
	if len(text) < 2*KeyLen {
		return nil, fmt.Errorf("keys: %s is empty or cut short (%d bytes; was its creation interrupted?): restore it from a backup, or, only if no account has enrolled a second factor yet, delete it to have a new key made: %w", path, len(text), errIncomplete)
	}
	k, err := Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// createFile writes a new key to path, which must not exist (O_EXCL). Randomness is read
// first, so that a failing source leaves no empty file behind.
func createFile(path string, rand io.Reader) (*Keys, error) {
	text, err := Generate(rand)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err // lost the race: the caller reads the winner's file
		}
		return nil, fmt.Errorf("keys: creating %s: %w", path, err)
	}
	_, werr := f.WriteString(text + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path) // ours by O_EXCL; a half-written key must not be found later
		return nil, fmt.Errorf("keys: writing %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return Parse(text)
}

// syncDir makes the new file's name durable, so that a crash right after a first start cannot
// lose the key that sealed data already depends on. Best effort: not every system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// loadSettled is loadFile for a file that another process may have just created with O_EXCL
// and still be writing: an incomplete file is read again for a short, bounded time (half a
// second) before it counts as cut short.
func loadSettled(path string) (*Keys, error) {
	const tries, pause = 50, 10 * time.Millisecond
	for i := 1; ; i++ {
		k, err := loadFile(path)
		if !errors.Is(err, errIncomplete) || i == tries {
			return k, err
		}
		time.Sleep(pause)
	}
}
