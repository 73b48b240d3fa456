package keys_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twofold-auth/twofold/internal/keys"
)

func ExampleParse() {
	// The caller reads TWOFOLD_SECRET_KEY; a newline from a file or a shell is ignored.
	k, err := keys.Parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n")
	if err != nil {
		panic(err)
	}
	fmt.Println(k.Check()) // stored in the database, compared at every start
	fmt.Println(k)         // the key itself is never printed
	_, err = keys.Parse("too short")
	fmt.Println(err)
	// Output:
	// 14c01474efae3b1e76162bd3533b3bdb1db52c08a0c9ab1c3a17366aba26530b
	// [redacted]
	// keys: the server key must be 64 hexadecimal characters (32 random bytes), not 9 characters
}

func ExampleLoadOrCreateFile() {
	dir, err := os.MkdirTemp("", "twofold-data")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "secret.key")

	first, created, err := keys.LoadOrCreateFile(path, rand.Reader)
	fmt.Println(created, err)
	again, created, err := keys.LoadOrCreateFile(path, rand.Reader)
	fmt.Println(created, err, again.Check() == first.Check())
	// Output:
	// true <nil>
	// false <nil> true
}

func ExampleKeys_SealTOTP() {
	k, err := keys.Parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	totpKey := []byte("twenty random bytes!")
	sealed, err := k.SealTOTP(42, keys.Version, totpKey, rand.Reader)
	if err != nil {
		panic(err)
	}
	// Store sealed with keys.Version; open it for the same account and version only.
	opened, err := k.OpenTOTP(42, keys.Version, sealed)
	fmt.Printf("%s %v\n", opened, err)
	_, err = k.OpenTOTP(43, keys.Version, sealed)
	fmt.Println(errors.Is(err, keys.ErrOpen))
	// Output:
	// twenty random bytes! <nil>
	// true
}

func ExampleKeys_SealPending() {
	k, err := keys.Parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	// During enrolment the key belongs to a session, not yet to an account.
	sealed, err := k.SealPending("session 7f3a", []byte("twenty random bytes!"), rand.Reader)
	if err != nil {
		panic(err)
	}
	opened, err := k.OpenPending("session 7f3a", sealed)
	fmt.Printf("%s %v\n", opened, err)
	// Output: twenty random bytes! <nil>
}
