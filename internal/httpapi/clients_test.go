package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
)

// clientFields are the fields of a client object.
var clientFields = []string{"client_id", "name", "public", "redirect_uris", "post_logout_redirect_uris",
	"backchannel_logout_uri", "require_mfa", "skip_consent", "groups", "created_at"}

func checkClient(t *testing.T, m map[string]any, withSecret bool) {
	t.Helper()
	for _, k := range clientFields {
		if _, ok := m[k]; !ok {
			t.Errorf("client without %s: %v", k, m)
		}
	}
	for _, k := range []string{"redirect_uris", "post_logout_redirect_uris", "groups"} {
		asList(t, m, k) // a list, never null
	}
	asTime(t, m, "created_at")
	if _, ok := m["client_secret"]; ok != withSecret {
		t.Errorf("client_secret shown: %v, want %v: %v", ok, withSecret, m)
	}
	if len(m) != len(clientFields)+map[bool]int{true: 1, false: 0}[withSecret] {
		t.Errorf("client with other fields: %v", m)
	}
}

// storedClients counts the clients in the database.
func (h *harness) storedClients() int {
	h.t.Helper()
	list, err := h.store.Clients(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return len(list)
}

// TestAdminClientsAPI: an administrator registers, lists, shows, gives a new secret to and
// removes applications under /admin/clients; a secret is answered once, with no-store (the
// harness checks every /api/ answer for it); a refused registration stores nothing.
func TestAdminClientsAPI(t *testing.T) {
	h := newHarness(t, harnessConfig{baseURL: "http://localhost:8080"})
	admin := h.signIn("admin", h.bootstrap())
	c := admin.c
	ctx := context.Background()

	spec := map[string]any{"name": "Grafana", "redirect_uris": []string{"https://grafana.example.com/cb"},
		"post_logout_redirect_uris": []string{"https://grafana.example.com/"}, "require_mfa": true,
		"groups": []string{"ops"}}
	added := c.post("/api/v1/admin/clients", spec).ok(t, 201)
	checkClient(t, added.json, true)
	id, secret := added.str(t, "client_id"), added.str(t, "client_secret")
	stored, err := h.store.Client(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(stored.SecretHash, sum[:]) {
		t.Errorf("the stored hash is not the answered secret's")
	}
	if !asBool(t, added.json, "require_mfa") || !slices.Equal(asStrings(t, added.json, "groups"), []string{"ops"}) {
		t.Errorf("added: %s", added.raw)
	}

	h.clock.Advance(time.Second) // newest first
	pub := c.post("/api/v1/admin/clients", map[string]any{"name": "SPA", "public": true,
		"redirect_uris": []string{"http://127.0.0.1:5173/cb"}}).ok(t, 201)
	checkClient(t, pub.json, false)
	pubID := pub.str(t, "client_id")

	list := asList(t, c.get("/api/v1/admin/clients").ok(t, 200).json, "clients")
	if len(list) != 2 || asString(t, list[0].(map[string]any), "client_id") != pubID {
		t.Fatalf("clients, newest first: %v", list)
	}
	for _, v := range list {
		checkClient(t, v.(map[string]any), false)
	}
	one := c.get("/api/v1/admin/clients/"+id).ok(t, 200)
	checkClient(t, one.json, false)
	if one.str(t, "name") != "Grafana" {
		t.Errorf("client: %s", one.raw)
	}
	c.get("/api/v1/admin/clients/nope").wantError(t, 404, "not_found")
	c.get("/api/v1/admin/clients/"+url.PathEscape("a b")).wantError(t, 404, "not_found")

	rotated := c.post("/api/v1/admin/clients/"+id+"/secret", nil).ok(t, 200)
	checkClient(t, rotated.json, true)
	fresh := rotated.str(t, "client_secret")
	if fresh == secret {
		t.Fatal("the new secret is the old one")
	}
	stored, _ = h.store.Client(ctx, id)
	if sum := sha256.Sum256([]byte(fresh)); !bytes.Equal(stored.SecretHash, sum[:]) {
		t.Errorf("after a new secret the stored hash is not the new secret's")
	}
	c.post("/api/v1/admin/clients/"+pubID+"/secret", nil).wantError(t, 409, "conflict")
	c.raw("POST", "/api/v1/admin/clients/"+id+"/secret", `{"x":1}`).wantError(t, 400, "invalid_request")

	// Refusals: 400 naming the rule, nothing stored.
	for name, body := range map[string]map[string]any{
		"http elsewhere": {"name": "A", "redirect_uris": []string{"http://app.example.com/cb"}},
		"fragment":       {"name": "A", "redirect_uris": []string{"https://app.example.com/cb#x"}},
		"relative":       {"name": "A", "redirect_uris": []string{"/cb"}},
		"wildcard":       {"name": "A", "redirect_uris": []string{"https://*.example.com/cb"}},
		"none":           {"name": "A", "redirect_uris": []string{}},
		"post-logout":    {"name": "A", "redirect_uris": []string{"https://a.example.com/cb"}, "post_logout_redirect_uris": []string{"http://a.example.com/"}},
		"back-channel":   {"name": "A", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "ftp://a.example.com/"},
		"no name":        {"name": "", "redirect_uris": []string{"https://a.example.com/cb"}},
		"bad group":      {"name": "A", "redirect_uris": []string{"https://a.example.com/cb"}, "groups": []string{"Ops"}},
		"unknown field":  {"name": "A", "redirect_uris": []string{"https://a.example.com/cb"}, "client_secret": "mine"},
	} {
		c.post("/api/v1/admin/clients", body).wantError(t, 400, "invalid_request")
		if n := h.storedClients(); n != 2 {
			t.Fatalf("%s: %d clients stored, want 2", name, n)
		}
	}

	// Removing answers 204, and the client is gone with its tokens.
	c.call("DELETE", "/api/v1/admin/clients/"+pubID, nil).ok(t, 204)
	c.get("/api/v1/admin/clients/"+pubID).wantError(t, 404, "not_found")
	c.call("DELETE", "/api/v1/admin/clients/"+pubID, nil).wantError(t, 404, "not_found")
	if n := h.storedClients(); n != 1 {
		t.Errorf("%d clients after the removal, want 1", n)
	}

	// Someone who is not an administrator can do none of it, and changes nothing.
	h.createUser(account.NewUser{Username: "bob"})
	bob := h.signIn("bob", h.lastTemporaryPassword("bob@example.com"))
	bob.c.get("/api/v1/admin/clients").wantError(t, 403, "forbidden")
	bob.c.post("/api/v1/admin/clients", spec).wantError(t, 403, "forbidden")
	bob.c.get("/api/v1/admin/clients/"+id).wantError(t, 403, "forbidden")
	bob.c.post("/api/v1/admin/clients/"+id+"/secret", nil).wantError(t, 403, "forbidden")
	bob.c.call("DELETE", "/api/v1/admin/clients/"+id, nil).wantError(t, 403, "forbidden")
	if after, _ := h.store.Client(ctx, id); after == nil || !bytes.Equal(after.SecretHash, stored.SecretHash) || h.storedClients() != 1 {
		t.Errorf("a non-admin changed the clients")
	}
	h.client().get("/api/v1/admin/clients").wantError(t, 401, "not_signed_in")
}

// TestClientsAPIWithoutProvider: with an http base URL on a host that is not a loopback
// address Twofold is no provider, and /admin/clients answers 404.
func TestClientsAPIWithoutProvider(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("admin", h.bootstrap()).c
	c.get("/api/v1/admin/clients").wantError(t, 404, "not_found")
	c.post("/api/v1/admin/clients", map[string]any{"name": "A", "redirect_uris": []string{"https://a.example.com/cb"}}).
		wantError(t, 404, "not_found")
}
