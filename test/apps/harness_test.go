// Package apps proves that real applications sign their people in through Twofold (SPEC §7):
// each test runs the `twofold serve` binary, an application built from its own release, and
// Debian's chromium driven through chromedp, as a person would use them, with oathtool as the
// authenticator app.
//
// An application is built by the test from its Go module, outside Twofold's go.mod, into
// os.UserCacheDir()/twofold-test/NAME-VERSION/, once: the first build needs the module proxy
// and takes minutes (give go test a -timeout of 20m then), later runs use the cached binary.
// Without network, chromium or oathtool the tests skip, except in CI (env CI set), where that
// is a failure. They start processes and a browser, so go test -short skips them.
package apps

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app/apptest"
)

// binary is the twofold binary that TestMain built.
var binary string

// hang bounds every wait on a process or a request: long enough that only a hang reaches it,
// never a busy machine.
const hang = 2 * time.Minute

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips: no need to build
	}
	os.Exit(apptest.RunWithBinary(m, &binary))
}

// long skips t under go test -short.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Twofold, an application and a browser")
	}
}

// randomText answers n random bytes, base64url without padding.
func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- applications built from their Go modules

// goInstall answers the path of command name of module at version, built with go install into
// the user's cache folder unless an earlier run built it there. A failed build skips the test
// (no network, most likely) except in CI.
func goInstall(t *testing.T, module, version, name string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache folder for the %s binary: %v", name, err)
	}
	dir := filepath.Join(cache, "twofold-test", name+"-"+version)
	bin := filepath.Join(dir, name)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return bin
	}
	// The build goes to a folder of its own beside dir and its binary is renamed into dir
	// once whole, so that a run stopped half way, or two runs at once, never leave half a
	// binary where the next run looks.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gobin, err := os.MkdirTemp(filepath.Dir(dir), name+"-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(gobin)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apptest.GoTool(), "install", module+"@"+version)
	// Outside Twofold's module, so that its go.mod neither chooses nor records anything.
	cmd.Dir = t.TempDir()
	cmd.Env = append(apptest.ProcessEnv(), "GOBIN="+gobin, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot build %s %s (the first run downloads it through the Go module proxy): %v\n%s",
			module, version, err, tail(out, 20))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.Rename(filepath.Join(gobin, name), bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s %s in %s, cached at %s", module, version, time.Since(start).Round(time.Second), bin)
	return bin
}

// tail answers the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---- processes

// startProcess runs bin with args beside Twofold until the test ends (SIGTERM, then SIGKILL
// after hang); should the test fail, its log shows what the program printed.
func startProcess(t *testing.T, name, bin string, args ...string) *apptest.Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = apptest.ProcessEnv()
	return apptest.StartProcess(t, hang, name, cmd)
}

// waitHTTP waits until url answers 200, or fails t when the process p ends or hang passes.
func waitHTTP(t *testing.T, p *apptest.Process, url string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(hang); ; {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("%s ended before %s answered", p.Name, url)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s within %s (last: %v)", p.Name, url, hang, err)
		}
	}
}

// ---- Twofold

// twofold is a running `twofold serve` with its data folder.
type twofold struct {
	*apptest.Serving
	url  string // the base URL and issuer: http://127.0.0.1:PORT
	data string
}

// startTwofold runs `twofold serve` on a free port of 127.0.0.1 with that address as
// --base-url (a loopback issuer may be http), SQLite and the outbox in a new data folder.
func startTwofold(t *testing.T) *twofold {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apptest.FreePort(t)))
	tf := &twofold{url: "http://" + addr, data: t.TempDir()}
	tf.Serving = apptest.StartServe(t, hang, binary, apptest.ProcessEnv(),
		"serve", "--addr", addr, "--base-url", tf.url, "--data", tf.data)
	if tf.Addr != addr {
		t.Fatalf("twofold listens on %s, asked for %s", tf.Addr, addr)
	}
	return tf
}

// cli runs a command-line command on the server's data folder and answers what it printed.
func (tf *twofold) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tf.tryCLI(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (tf *twofold) tryCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--data", tf.data, "--base-url", tf.url)...)
	cmd.Env = apptest.ProcessEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("twofold %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// addUser makes an internal account with the command line and answers its temporary password,
// read from the "New Password" email in the outbox.
func (tf *twofold) addUser(t *testing.T, name, email, fullName string) string {
	t.Helper()
	tf.cli(t, "user", "add", name, "--email", email, "--name", fullName)
	return tf.temporaryPassword(t, email)
}

var temporaryPasswordRE = regexp.MustCompile(`(?m)^Temporary password: (\S+)\r?$`)

func (tf *twofold) temporaryPassword(t *testing.T, email string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(tf.data, "outbox", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names) // file names start with the time: the newest is last
	for _, name := range slices.Backward(names) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m := string(b)
		if !strings.Contains(m, "\r\nTo: <"+email+">\r\n") || !strings.Contains(m, "\r\nSubject: "+account.SubjectNewPassword+"\r\n") {
			continue
		}
		if found := temporaryPasswordRE.FindStringSubmatch(m); found != nil {
			return found[1]
		}
	}
	t.Fatalf("no %q email to %s in %s/outbox", account.SubjectNewPassword, email, tf.data)
	return ""
}

// addClient registers a confidential application with one redirect URI through
// `twofold client add --json`, as an administrator does, and answers its client_id and the
// client_secret printed that once.
func (tf *twofold) addClient(t *testing.T, name, redirectURI string) (id, secret string) {
	t.Helper()
	var v struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := tf.cli(t, "client", "add", name, "--redirect-uri", redirectURI, "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ClientID == "" || v.ClientSecret == "" {
		t.Fatalf("client add --json printed %q (%v)", out, err)
	}
	return v.ClientID, v.ClientSecret
}

// ---- the upstream

// seen is what an upstream application received from the proxy in front of it: the identity
// headers, and the claims of the ID token the proxy passes as "Authorization: Bearer" (read,
// not verified: the proxy verified it).
type seen struct {
	Path              string    `json:"path"`
	User              string    `json:"user"`
	Email             string    `json:"email"`
	PreferredUsername string    `json:"preferred_username"`
	Groups            string    `json:"groups"`
	IDToken           *idClaims `json:"id_token"`
}

// idClaims are the claims of an ID token that say who signed in, where and how.
type idClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          audience `json:"aud"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	AMR               []string `json:"amr"`
	ACR               string   `json:"acr"`
}

// audience is the aud claim, one string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// bearerClaims reads the payload of the JWT in an "Authorization: Bearer" header; nil when
// there is none or it is not a JWT.
func bearerClaims(header string) *idClaims {
	token, ok := strings.CutPrefix(header, "Bearer ")
	parts := strings.Split(token, ".")
	if !ok || len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c idClaims
	if json.Unmarshal(payload, &c) != nil {
		return nil
	}
	return &c
}

// upstream is an application behind a proxy: it shows, and keeps, the identity headers of each
// request.
type upstream struct {
	mu   sync.Mutex
	seen []seen
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seen{Path: r.URL.RequestURI(), User: r.Header.Get("X-Forwarded-User"), Email: r.Header.Get("X-Forwarded-Email"),
		PreferredUsername: r.Header.Get("X-Forwarded-Preferred-Username"), Groups: strings.Join(r.Header.Values("X-Forwarded-Groups"), ","),
		IDToken: bearerClaims(r.Header.Get("Authorization"))}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	b, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Upstream</title><pre id=\"seen\">%s</pre>\n", html.EscapeString(string(b)))
}

// last answers the newest request the upstream saw at path.
func (u *upstream) last(path string) (seen, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range slices.Backward(u.seen) {
		if s.Path == path {
			return s, true
		}
	}
	return seen{}, false
}

// all answers every request the upstream saw.
func (u *upstream) all() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

var _ http.Handler = (*upstream)(nil)
