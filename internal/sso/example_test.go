package sso_test

import (
	"fmt"
	"net/http"

	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/sso"
)

// The sign-in in progress travels in a cookie sent only to the callback's folder.
func ExampleClient_Cookie() {
	k, _ := keys.Parse(testKeyHex)
	c, err := sso.New(sso.Config{Issuer: "https://idp.example.org/realms/staff", ClientID: "twofold",
		RedirectURL: "https://signin.example.org/api/v1/sso/callback", Keys: k})
	if err != nil {
		panic(err)
	}
	ck := c.Cookie("sealed-value")
	fmt.Println(ck.Name, ck.Path, ck.MaxAge, ck.HttpOnly, ck.Secure, ck.SameSite == http.SameSiteLaxMode)
	// Output: twofold_sso /api/v1/sso/ 600 true true true
}
