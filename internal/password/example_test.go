package password_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/password"
)

func ExampleHash() {
	phc, err := password.Hash("correct horse battery staple", password.DefaultParams, rand.Reader)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(strings.Split(phc, "$")[:4], "$"))
	// Output: $argon2id$v=19$m=19456,t=2,p=1
}

func ExampleVerify() {
	// The argon2 reference implementation's test vector.
	phc := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := password.Verify("password", phc)
	fmt.Println(ok, err)
	ok, err = password.Verify("Password", phc)
	fmt.Println(ok, err)
	_, err = password.Verify("password", "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFh")
	fmt.Println(errors.Is(err, password.ErrMalformedHash))
	// Output:
	// true <nil>
	// false <nil>
	// true
}

func ExampleHasher() {
	// Two hashes at a time; a caller waits up to a second for a turn, else gets ErrBusy.
	h := password.NewHasher(password.DefaultParams, 2, time.Second, rand.Reader)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	ok, replace, err := h.Verify(ctx, "correct horse battery staple", phc)
	fmt.Println(ok, replace, err)
	// An unknown account costs the same time as a known one.
	fmt.Println(h.VerifyDummy(ctx, "correct horse battery staple"))
	// Output:
	// true false <nil>
	// <nil>
}

func ExampleCheck() {
	for _, pw := range []string{"hunter2", "scandinavian", "alice in wonderland", "correct horse battery staple"} {
		if err := password.Check(pw, "alice"); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("ok")
	}
	// Output:
	// Password must be at least 12 characters.
	// Password is one of the most common passwords; choose another.
	// Password must not contain your username.
	// ok
}

func ExampleTemporary() {
	pw, err := password.Temporary(rand.Reader)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(pw), password.Check(pw, "alice"))
	// Output: 20 <nil>
}
