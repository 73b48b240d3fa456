// Package cookie reads and writes the session cookie, twofold_session, with the same
// attributes for the JSON API and the pages, so a sign-in begun on one can go on in the other.
package cookie

import "net/http"

// Name is the session cookie.
const Name = "twofold_session"

// Token answers the session token the request carries, "" when none.
func Token(r *http.Request) string {
	c, err := r.Cookie(Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// Set gives the client the session token: HttpOnly, SameSite=Lax, Secure when the server is
// reached over https. An empty token removes the cookie.
func Set(w http.ResponseWriter, token string, secure bool) {
	c := &http.Cookie{Name: Name, Value: token, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode}
	if token == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
