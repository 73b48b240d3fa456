//go:build unix

package keys

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFileRefusesAnotherOwner: a key file of mode 0600 that another user owns is refused:
// that user can read the key. Only root can give a file away, so the test needs root (CI).
func TestLoadFileRefusesAnotherOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can make a file another user owns")
	}
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte(fileHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatalf("LoadFile of root's own file: %v", err)
	}
	const nobody = 65534
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() error{
		"LoadFile":         func() error { _, err := LoadFile(path); return err },
		"LoadOrCreateFile": func() error { _, _, err := LoadOrCreateFile(path, rand.Reader); return err },
	} {
		if err := load(); err == nil || !strings.Contains(err.Error(), "belongs to user id 65534") || !strings.Contains(err.Error(), "chown 0 "+path) {
			t.Errorf("%s of another user's file = %v, want a refusal naming the owner and the chown", name, err)
		}
	}
	if text, _ := os.ReadFile(path); string(text) != fileHex+"\n" {
		t.Error("a refused file was changed")
	}
}
