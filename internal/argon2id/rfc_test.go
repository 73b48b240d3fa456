package argon2id

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestRFC9106Vector checks the argon2id test vector of RFC 9106 §5.3, which
// uses a secret and associated data.
func TestRFC9106Vector(t *testing.T) {
	password := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	ad := bytes.Repeat([]byte{0x04}, 12)
	want, _ := hex.DecodeString("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")
	var m Memory
	defer m.Release()
	got := m.key(password, salt, secret, ad, 3, 32, 4, 32)
	if !bytes.Equal(got, want) {
		t.Fatalf("tag %x, want %x", got, want)
	}
}
