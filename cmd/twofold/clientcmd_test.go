package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app"
)

// providerBaseURL is a base URL that can be an issuer: the tests' TWOFOLD_BASE_URL cannot.
const providerBaseURL = "http://localhost:8080"

// clientCLI runs a command about applications with a base URL that makes Twofold a provider.
func clientCLI(t *testing.T, data string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, data, append(slices.Clone(args), "--base-url", providerBaseURL)...)
}

func mustClientCLI(t *testing.T, data string, args ...string) string {
	t.Helper()
	r := clientCLI(t, data, args...)
	if r.code != 0 {
		t.Fatalf("twofold %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func clientJSON(t *testing.T, data string, args ...string) map[string]any {
	t.Helper()
	return cliJSON(t, data, append(slices.Clone(args), "--base-url", providerBaseURL)...)
}

// clientKeys are the fields of a client object.
var clientKeys = []string{"client_id", "name", "public", "redirect_uris", "post_logout_redirect_uris",
	"backchannel_logout_uri", "require_mfa", "skip_consent", "groups", "created_at"}

// storedSecretHash answers the secret hash the database holds for the client id.
func storedSecretHash(t *testing.T, data, id string) []byte {
	t.Helper()
	ctx := context.Background()
	st, err := app.OpenStore(ctx, data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Client(ctx, id)
	if err != nil {
		t.Fatalf("client %s: %v", id, err)
	}
	return c.SecretHash
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestCLIClients: client add registers a confidential client (its secret printed once and
// stored only as its hash) and a public one (no secret); list and show print the one JSON
// shape; rotate-secret replaces the stored hash; remove removes; oidc rotate-key makes a key.
func TestCLIClients(t *testing.T) {
	t.Parallel()
	data := t.TempDir()

	// Flags after the name, repeated, and --json.
	added := clientJSON(t, data, "client", "add", "Grafana", "--redirect-uri", "https://grafana.example.com/cb",
		"--redirect-uri", "http://127.0.0.1:3000/cb", "--post-logout-redirect-uri", "https://grafana.example.com/",
		"--backchannel-logout-uri", "https://grafana.example.com/logout", "--require-mfa", "--groups", "ops,dev", "--json")
	id, secret := str(added, "client_id"), str(added, "client_secret")
	if raw, err := hex.DecodeString(id); err != nil || len(raw) != 16 || id != strings.ToLower(id) || len(secret) != 43 {
		t.Fatalf("client add --json: client_id %q, client_secret %q; want 16 bytes of lowercase hex and 32 of base64url", id, secret)
	}
	if !bytes.Equal(storedSecretHash(t, data, id), sha(secret)) {
		t.Errorf("the stored hash is not the SHA-256 of the printed secret")
	}

	// Flags before the name; plain output names the id and says there is no secret.
	out := mustClientCLI(t, data, "client", "add", "--public", "--redirect-uri", "http://localhost:5173/cb", "--skip-consent", "Web app")
	if !strings.Contains(out, "client_id: ") || strings.Contains(out, "client_secret") {
		t.Errorf("client add --public printed %q", out)
	}
	publicID := strings.Fields(out[strings.Index(out, "client_id: "):])[1]
	if storedSecretHash(t, data, publicID) != nil {
		t.Errorf("the public client has a stored secret")
	}

	list := clientJSON(t, data, "client", "list", "--json")
	clients, ok := get(list, "clients").([]any)
	if !ok || len(clients) != 2 || str(clients[0], "client_id") != publicID || str(clients[1], "client_id") != id {
		t.Fatalf("client list --json (newest first): %v", list)
	}
	for _, c := range clients {
		for _, k := range clientKeys {
			if !has(c, k) {
				t.Errorf("client list --json: a client has no %s: %v", k, c)
			}
		}
		if has(c, "client_secret") || has(c, "secret_hash") {
			t.Errorf("client list --json shows a secret: %v", c)
		}
	}
	show := clientJSON(t, data, "client", "show", id, "--json")
	for path, want := range map[string]any{"client_id": id, "name": "Grafana", "public": false, "require_mfa": true,
		"skip_consent": false, "backchannel_logout_uri": "https://grafana.example.com/logout"} {
		if got := get(show, path); got != want {
			t.Errorf("client show --json: %s = %#v, want %#v", path, got, want)
		}
	}
	if got := strList(t, show, "redirect_uris"); !slices.Equal(got, []string{"https://grafana.example.com/cb", "http://127.0.0.1:3000/cb"}) {
		t.Errorf("redirect_uris %q", got)
	}
	if got := strList(t, show, "groups"); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Errorf("groups %q", got)
	}
	if _, err := time.Parse(time.RFC3339, str(show, "created_at")); err != nil {
		t.Errorf("created_at: %v", err)
	}
	pub := clientJSON(t, data, "client", "show", publicID, "--json")
	for _, k := range []string{"post_logout_redirect_uris", "groups"} {
		if l, ok := get(pub, k).([]any); !ok || len(l) != 0 {
			t.Errorf("client show --json of the public client: %s = %#v, want []", k, get(pub, k))
		}
	}
	if out := mustClientCLI(t, data, "client", "show", id); !strings.Contains(out, "Grafana") ||
		!strings.Contains(out, "http://127.0.0.1:3000/cb") || !strings.Contains(out, "dev, ops") || strings.Contains(out, secret) {
		t.Errorf("client show printed:\n%s", out)
	}
	if out := mustClientCLI(t, data, "client", "list"); !strings.Contains(out, "Web app") || !strings.Contains(out, "confidential") {
		t.Errorf("client list printed:\n%s", out)
	}

	rotated := clientJSON(t, data, "client", "rotate-secret", id, "--json")
	fresh := str(rotated, "client_secret")
	if fresh == "" || fresh == secret || str(rotated, "client_id") != id {
		t.Fatalf("client rotate-secret --json: %v", rotated)
	}
	if h := storedSecretHash(t, data, id); !bytes.Equal(h, sha(fresh)) || bytes.Equal(h, sha(secret)) {
		t.Errorf("after rotate-secret the stored hash is not the new secret's")
	}
	if out := mustClientCLI(t, data, "client", "rotate-secret", id); !strings.Contains(out, "client_secret: ") {
		t.Errorf("client rotate-secret printed %q", out)
	}
	if r := clientCLI(t, data, "client", "rotate-secret", publicID); r.code != 1 || !strings.Contains(r.stderr, "public") {
		t.Errorf("client rotate-secret of a public client: exit %d, %q", r.code, r.stderr)
	}

	if out := mustClientCLI(t, data, "client", "remove", publicID); !strings.Contains(out, "Web app") {
		t.Errorf("client remove printed %q", out)
	}
	if r := clientCLI(t, data, "client", "show", publicID); r.code != 1 || !strings.Contains(r.stderr, "no application") {
		t.Errorf("client show of a removed client: exit %d, %q", r.code, r.stderr)
	}
	if r := clientCLI(t, data, "client", "remove", publicID); r.code != 1 {
		t.Errorf("client remove twice: exit %d", r.code)
	}

	actions := []string{}
	for _, e := range get(cliJSON(t, data, "audit", "--json"), "events").([]any) {
		if a := str(e, "action"); strings.HasPrefix(a, "oidc.client") {
			actions = append(actions, a)
			if str(e, "actor") != "cli" {
				t.Errorf("audit event by %q, want cli", str(e, "actor"))
			}
		}
	}
	if want := []string{"oidc.client_removed", "oidc.client_secret_rotated", "oidc.client_secret_rotated",
		"oidc.client_added", "oidc.client_added"}; !slices.Equal(actions, want) {
		t.Errorf("audit: %q, want %q", actions, want)
	}

	out = mustClientCLI(t, data, "oidc", "rotate-key")
	if !strings.HasPrefix(out, "New signing key ") {
		t.Errorf("oidc rotate-key printed %q", out)
	}
	if !strings.Contains(mustCLI(t, data, "audit", "--action", "oidc.key_rotated"), "oidc.key_rotated") {
		t.Errorf("the key rotation is not audited")
	}
}

// TestCLIClientRefusals: every registration that breaks a rule exits 1 with the rule said,
// and stores nothing; a command line that cannot be run exits 2; without a base URL that can
// be an issuer, the commands say why and exit 2.
func TestCLIClientRefusals(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--redirect-uri", "http://app.example.com/cb"}, "must be https"},
		{[]string{"--redirect-uri", "https://app.example.com/cb#top"}, "fragment"},
		{[]string{"--redirect-uri", "/cb"}, "not absolute"},
		{[]string{"--redirect-uri", "app.example.com/cb"}, "not absolute"},
		{[]string{"--redirect-uri", "https://*.example.com/cb"}, "wildcards"},
		{[]string{"--redirect-uri", "https://user@app.example.com/cb"}, "user name"},
		{[]string{"--redirect-uri", "https://app.example.com/\x1b[2J"}, "printable ASCII"},
		{[]string{"--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://10.1.1.1/cb"}, "must be https"},
		{[]string{"--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "http://app.example.com/"}, "post-logout"},
		{[]string{"--redirect-uri", "https://app.example.com/cb", "--backchannel-logout-uri", "http://app.example.com/bc"}, "back-channel"},
		{[]string{"--redirect-uri", "https://app.example.com/cb", "--groups", "Ops"}, "group name"},
	} {
		r := clientCLI(t, data, append([]string{"client", "add", "App"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("client add %q: exit %d, stderr %q; want 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
		if strings.Contains(r.stderr, "\x1b") {
			t.Errorf("client add %q printed a raw escape", tt.args)
		}
	}
	if r := clientCLI(t, data, "client", "add", "Bad\x1bname", "--redirect-uri", "https://app.example.com/cb"); r.code != 1 ||
		strings.Contains(r.stderr, "\x1b") {
		t.Errorf("client add with a control character in its name: exit %d, %q", r.code, r.stderr)
	}
	if clients := get(clientJSON(t, data, "client", "list", "--json"), "clients").([]any); len(clients) != 0 {
		t.Errorf("refused registrations stored %v", clients)
	}
	if out := mustCLI(t, data, "audit", "--action", "oidc.client_added"); strings.Contains(out, "oidc.client_added") {
		t.Errorf("refused registrations were audited:\n%s", out)
	}

	if r := runCLI(t, "", "client"); r.code != 2 || !strings.Contains(r.stderr, "client needs a subcommand") {
		t.Errorf("twofold client: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"client", "frobnicate"}, "unknown command client frobnicate"},
		{[]string{"client", "add", "App"}, "--redirect-uri is required"},
		{[]string{"client", "add", "--redirect-uri", "https://app.example.com/cb"}, "takes NAME"},
		{[]string{"client", "show"}, "takes CLIENT_ID"},
		{[]string{"client", "remove", "a", "b"}, "takes CLIENT_ID"},
		{[]string{"oidc", "frobnicate"}, "unknown command oidc frobnicate"},
		// The tests' TWOFOLD_BASE_URL is http on a host that is not a loopback address.
		{[]string{"client", "list", "--base-url", cliBaseURL}, "must be https"},
		{[]string{"oidc", "rotate-key", "--base-url", cliBaseURL}, "must be https"},
	} {
		r := runCLI(t, data, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("twofold %q: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
