package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
)

// BenchmarkForwardAuth is the reverse-proxy check with a valid session, through the server's
// whole handler (cross-origin protection, metrics) without the network: what one check costs
// the server (SPEC §6; cmd/twofold-load -mode forward measures it over HTTP).
func BenchmarkForwardAuth(b *testing.B) {
	a := apptest.Serve(b, app.Config{SecretKey: testKeyHex, TrustedProxies: loopback})
	pw, err := a.Service.Bootstrap(b.Context(), "admin@example.com")
	if err != nil {
		b.Fatal(err)
	}
	st, err := a.Service.SignIn(b.Context(), account.SignInRequest{Username: "admin", Password: pw})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Service.SetOption(b.Context(), account.CLI, "accessDefaultPolicy", "one_factor"); err != nil {
		b.Fatal(err)
	}
	// The admin's first sign-in is not finished (enrolment, new password): turn MFA off and
	// finish with a new password, so that the session is a finished one.
	if _, err := a.Service.SetOption(b.Context(), account.CLI, "internalMFA", "off"); err != nil {
		b.Fatal(err)
	}
	if st, err = a.Service.ChangeTemporaryPassword(b.Context(), st.Token, "violet tangerine orbit 1987"); err != nil || st.Next != account.StepDone {
		b.Fatalf("%v %s", err, st.Next)
	}
	req := httptest.NewRequest("GET", "/api/v1/authz/auth-request", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Original-URL", "https://app.example.test/dashboard?tab=1")
	req.Header.Set("X-Original-Method", "GET")
	req.AddCookie(&http.Cookie{Name: "twofold_session", Value: st.Token})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			a.Handler.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("answer %d: %s", w.Code, w.Body)
			}
		}
	})
}
