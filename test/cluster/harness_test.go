// Package cluster runs several real Twofold instances on one PostgreSQL database and checks
// that together they give the same answers as one (SPEC §3 and §5 on every instance): a code
// works once across all of them, failures add up, sessions and options are shared, and a
// killed instance loses nothing it answered. It also runs the instances behind Debian's nginx
// with docs/nginx.conf, and copies a database between SQLite and PostgreSQL with copy-db.
//
// The tests start processes, so go test -short skips them. They need TWOFOLD_TEST_POSTGRES
// (see package pgtest); under CI they fail without it.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
)

// binary is the twofold binary that TestMain built.
var binary string

// hang bounds every wait on a process or a request: long enough that only a hang reaches it,
// never a busy machine.
const hang = 2 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flagShort := false
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" {
			flagShort = true
		}
	}
	if flagShort || os.Getenv(pgtest.EnvURL) == "" && os.Getenv("CI") == "" {
		return m.Run() // every test skips: no need to build
	}
	return apptest.RunWithBinary(m, &binary)
}

// userPassword is the password every account chooses at its first sign-in.
const userPassword = "Quartz meadow lantern 5820"

// cluster is a database, a server key and the instances that share them.
type cluster struct {
	db  string // the --db URL
	key string // TWOFOLD_SECRET_KEY
	cli string // the data folder of command-line runs
	dir string
	ins []*instance
}

// newCluster makes a schema and a key, and starts n instances at once (so that their
// migrations race, as they would in a rolling start) with extra serve flags.
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts several server processes")
	}
	c := &cluster{db: pgtest.URL(t), key: newKey(t), dir: t.TempDir()}
	c.cli = filepath.Join(c.dir, "cli")
	c.ins = make([]*instance, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.ins[i] = c.start(t, fmt.Sprint("instance-", i), extra...)
		}()
	}
	wg.Wait()
	for i, in := range c.ins {
		if in == nil {
			t.Fatalf("instance %d did not start", i)
		}
	}
	return c
}

func newKey(t testing.TB) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// env is the environment of the processes: the test's own without TWOFOLD_ settings, plus
// the key.
func (c *cluster) env() []string {
	return apptest.ProcessEnv("TWOFOLD_SECRET_KEY=" + c.key)
}

// instance is one running `twofold serve`.
type instance struct {
	*apptest.Serving
	name string
	data string
	url  string // http://127.0.0.1:PORT
}

// start runs `twofold serve` on 127.0.0.1:0 with its own data folder (its outbox) and the
// cluster's database, and waits for the line that names its address.
func (c *cluster) start(t *testing.T, name string, extra ...string) *instance {
	t.Helper()
	return startServe(t, c.env(), filepath.Join(c.dir, name), name, append([]string{"--db", c.db}, extra...)...)
}

func startServe(t testing.TB, env []string, data, name string, extra ...string) *instance {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)
	in := &instance{Serving: apptest.StartServe(t, hang, binary, env, args...), name: name, data: data}
	in.url = "http://" + in.Addr
	return in
}

// stop ends the process with SIGTERM and waits; it is a no-op when it has ended.
func (in *instance) stop(t testing.TB) { in.Stop(t, hang) }

// cliRun runs a command-line command on the cluster's database, with its own data folder.
func (c *cluster) cliRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCLI(t, c.env(), append(args, "--db", c.db, "--data", c.cli)...)
}

func runCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("twofold %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (c *cluster) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.cliRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- mail

// temporaryPassword reads the "New Password" mail to addr from the outbox of data (the
// instance or command that sent it) and answers the password in it.
func temporaryPassword(t *testing.T, data, addr string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for i := len(names) - 1; i >= 0; i-- {
		raw, err := os.ReadFile(names[i])
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		if to, err := mail.ParseAddress(msg.Header.Get("To")); err != nil || !strings.EqualFold(to.Address, addr) {
			continue
		}
		body, _ := io.ReadAll(msg.Body)
		for _, l := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Temporary password: "); ok {
				return v
			}
		}
	}
	t.Fatalf("no mail with a temporary password to %s in %s/outbox", addr, data)
	return ""
}

// ---- API client

// client is one browser: it holds one session cookie and may send it to any instance.
type client struct {
	token string
}

// response is an API answer.
type response struct {
	status int
	body   map[string]any
	raw    []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw)) }

// code answers the error code of an error answer.
func (r response) code() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// httpClient is shared by every client; its transport keeps connections to each instance.
var httpClient = &http.Client{
	Timeout:   hang,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// do sends one request to base and keeps the session cookie the answer sets.
func (c *client) do(base, method, path string, body any) (response, error) {
	return c.doHeader(base, method, path, body)
}

// doHeader is do with extra request headers, given as name, value pairs.
func (c *client) doHeader(base, method, path string, body any, header ...string) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if c.token != "" {
		req.AddCookie(&http.Cookie{Name: "twofold_session", Value: c.token})
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "twofold_session" {
			c.token = ck.Value
			if ck.MaxAge < 0 {
				c.token = ""
			}
		}
	}
	r := response{status: res.StatusCode, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: the answer is not JSON: %w", method, path, err)
		}
	}
	return r, nil
}

// password is the password step. A 503 (argon2id workers busy for too long: SPEC §5's answer
// to a flood, which a loaded test machine can meet) is tried again after its Retry-After, for
// as long as a hang would take rather than a number of times a busy machine could use up.
func (c *client) password(base, username, password string) (response, error) {
	for start := time.Now(); ; {
		r, err := c.do(base, "POST", "/api/v1/signin", map[string]string{"username": username, "password": password})
		if err != nil || r.status != http.StatusServiceUnavailable || time.Since(start) > hang {
			return r, err
		}
		time.Sleep(time.Second)
	}
}

// call is do for requests that must reach the instance.
func (c *client) call(t *testing.T, base, method, path string, body any) response {
	t.Helper()
	r, err := c.do(base, method, path, body)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	return r
}

// expect fails t unless r has the status and, for an error, the code.
func expect(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("%s: %s; want %d %s", what, r, status, code)
	}
}

func expectNext(t *testing.T, what string, r response, next string) {
	t.Helper()
	if r.status != http.StatusOK || r.str("next") != next {
		t.Fatalf("%s: %s; want next %q", what, r, next)
	}
}

// ---- codes

// step answers the TOTP step of now.
func step() int64 { return otp.StepAt(time.Now(), 30) }

// totp answers the code of secret at step s, from the real oathtool when it is installed (CI
// installs it; see the README), else from package otp.
func totp(t *testing.T, secret string, s int64) string {
	t.Helper()
	key, err := otp.DecodeKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	want := otp.HOTP(key, uint64(s), 6, otp.SHA1)
	tool, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("oathtool is not installed: CI must check codes with it")
		}
		return want
	}
	out, err := exec.Command(tool, "--totp", "-b", "-N", fmt.Sprintf("@%d", s*30+15), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	got := strings.TrimSpace(string(out))
	if got != want {
		t.Fatalf("oathtool says %s for step %d, package otp %s", got, s, want)
	}
	return got
}

// account is an enrolled account: its authenticator's secret, backup codes and the step of
// the code it enrolled with.
type account struct {
	name     string
	secret   string
	backup   []string
	enrolled int64 // the step of the enrolment code: later codes start at enrolled+1
	session  *client
}

// fresh answers a step whose code the account has not used and the server accepts now: the
// current one, or the next when the account enrolled with the current one.
func (a *account) fresh() int64 { return max(a.enrolled+1, step()) }

// addUser makes an account through the command line and answers its temporary password.
func (c *cluster) addUser(t *testing.T, name string, admin bool) string {
	t.Helper()
	args := []string{"user", "add", name, "--email", name + "@example.org"}
	if admin {
		args = append(args, "--admin")
	}
	c.mustCLI(t, args...)
	return temporaryPassword(t, c.cli, name+"@example.org")
}

// enrol takes a new account through its first sign-in, each step on the next of bases: the
// password, the key, the first code (of the current step, so that the next step's code is
// good for the rest of the test) and the new password.
func enrol(t *testing.T, name, temporary string, bases ...string) *account {
	t.Helper()
	on := func(i int) string { return bases[i%len(bases)] }
	c := &client{}
	r, err := c.password(on(0), name, temporary)
	if err != nil {
		t.Fatal(err)
	}
	expectNext(t, name+": first sign-in", r, "mfa_enroll")
	r = c.call(t, on(1), "POST", "/api/v1/signin/mfa/enroll", nil)
	expect(t, name+": enrol", r, http.StatusOK, "")
	a := &account{name: name, secret: r.str("secret"), enrolled: step(), session: c}
	r = c.call(t, on(2), "POST", "/api/v1/signin/mfa/enroll/verify", map[string]string{"code": totp(t, a.secret, a.enrolled)})
	expectNext(t, name+": first code", r, "change_password")
	for _, v := range r.body["backup_codes"].([]any) {
		a.backup = append(a.backup, v.(string))
	}
	expectNext(t, name+": new password", c.call(t, on(3), "POST", "/api/v1/signin/password",
		map[string]string{"new_password": userPassword}), "done")
	return a
}

// signIn is the password step of a returning account, answering the client at mfa_verify.
func signIn(t *testing.T, base, name string) *client {
	t.Helper()
	c := &client{}
	r, err := c.password(base, name, userPassword)
	if err != nil {
		t.Fatal(err)
	}
	expectNext(t, name+": password", r, "mfa_verify")
	return c
}
