package backupcode_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/twofold-auth/twofold/internal/backupcode"
)

func ExampleGenerate() {
	// A fixed source makes the example repeatable; servers pass crypto/rand.Reader.
	src := bytes.NewReader([]byte{
		0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	})
	codes, err := backupcode.Generate(src, 2)
	if err != nil {
		panic(err)
	}
	for _, c := range codes {
		fmt.Println(backupcode.Format(c))
	}
	// Output:
	// 0123-4567-89ab-cdef
	// zzzz-zzzz-zzzz-zzzz
}

func ExampleNormalize() {
	for _, typed := range []string{"ABCD 2345 EFGH 6789", "abcd-2345-efgh-678", "oOiL-2345-efgh-6789"} {
		code, err := backupcode.Normalize(typed)
		fmt.Printf("%q %v\n", code, err)
	}
	// Output:
	// "abcd2345efgh6789" <nil>
	// "" backupcode: malformed code
	// "00112345efgh6789" <nil>
}

func ExampleMAC() {
	serverKey := bytes.Repeat([]byte{0x42}, 32) // from keys.Keys.BackupMACKey
	salt, err := backupcode.NewSalt(rand.Reader)
	if err != nil {
		panic(err)
	}
	codes, err := backupcode.Generate(rand.Reader, 10)
	if err != nil {
		panic(err)
	}
	// Store the MACs; show the codes once.
	stored := map[string]bool{}
	for _, c := range codes {
		stored[hex.EncodeToString(backupcode.MAC(serverKey, salt, c))] = true
	}
	// At sign-in, normalise what was typed and look its MAC up.
	typed, err := backupcode.Normalize(backupcode.Format(codes[3]))
	if err != nil {
		panic(err)
	}
	fmt.Println(stored[hex.EncodeToString(backupcode.MAC(serverKey, salt, typed))])
	// Output: true
}
