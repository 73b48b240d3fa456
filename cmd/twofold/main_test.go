package main

// Shared machinery of the process-level tests: the binary built once by TestMain, a running
// server (started, killed, restarted), command-line runs of the same binary, a small API
// client, the outbox, and codes from the real oathtool.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app/apptest"
)

// testVersion is stamped into the test binary, so that `version` is seen to print it.
const testVersion = "v0.0.0-e2e"

// binary is the twofold binary that TestMain built.
var binary string

// hang bounds every wait on a process (starting, stopping, a command-line run): long enough
// that only a hang reaches it, never a busy machine.
const hang = 2 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(apptest.RunWithBinary(m, &binary, "-ldflags=-X main.version="+testVersion))
}

// cliBaseURL is the --base-url of command-line runs (given through TWOFOLD_BASE_URL): links in
// the mail they send must use it.
const cliBaseURL = "http://signin.twofold.test"

// cliResult is one command-line run.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args and the data folder given after them, as SPEC §4 allows.
func runCLI(t *testing.T, data string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if data != "" {
		args = append(args, "--data", data)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = apptest.ProcessEnv("TWOFOLD_BASE_URL=" + cliBaseURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	cliStderr.Lock()
	cliStderr.lines[data] = append(cliStderr.lines[data], strings.Split(res.stderr, "\n")...)
	cliStderr.Unlock()
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("twofold %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI runs a command that must succeed and answers its standard output.
func mustCLI(t *testing.T, data string, args ...string) string {
	t.Helper()
	r := runCLI(t, data, args...)
	if r.code != 0 {
		t.Fatalf("twofold %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// cliJSON runs a command that must succeed and decodes its JSON output.
func cliJSON(t *testing.T, data string, args ...string) map[string]any {
	t.Helper()
	out := mustCLI(t, data, args...)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("twofold %s: output is not one JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// server is one running `twofold serve`.
type server struct {
	*apptest.Serving
	addr string
	base string // http://ADDR
}

// startServer runs `serve --addr 127.0.0.1:0 --data DATA` and waits for it to listen.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)
	s := &server{Serving: apptest.StartServe(t, hang, binary, apptest.ProcessEnv(), args...)}
	s.addr, s.base = s.Addr, "http://"+s.Addr
	return s
}

// waitGone waits for the server's process to have ended.
func (s *server) waitGone(t *testing.T) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(hang):
		t.Fatalf("server still running %s after SIGKILL", hang)
	}
}

// stop ends the server with SIGTERM (a clean shutdown), or SIGKILL when it does not stop.
func (s *server) stop(t *testing.T) { s.Stop(t, hang) }

// bootstrapPassword answers the admin's temporary password printed at bootstrap, "" if none.
func (s *server) bootstrapPassword() string {
	for _, l := range s.Lines() {
		if pw, ok := strings.CutPrefix(l, "Temporary password: "); ok {
			return strings.TrimSpace(pw)
		}
	}
	return ""
}

// client is one browser: one session cookie.
type client struct {
	srv   **server // follows the server across a restart
	token string
}

func newClient(srv **server) *client { return &client{srv: srv} }

// response is an API answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw)) }

var httpClient = &http.Client{Timeout: hang}

// call sends a request with the client's cookie and keeps the cookie it gets back. body nil
// sends no body. Anything but a JSON answer fails the test.
func (c *client) call(t *testing.T, method, path string, body any) response {
	t.Helper()
	r, err := c.try(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is call for a request that may get no answer (the server was killed): it answers the
// error instead of failing the test, so it may run outside the test's goroutine.
func (c *client) try(method, path string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, (*c.srv).base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.AddCookie(&http.Cookie{Name: "twofold_session", Value: c.token})
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "twofold_session" {
			if ck.MaxAge < 0 || ck.Value == "" {
				c.token = ""
			} else {
				c.token = ck.Value
				rememberSecret(ck.Value)
			}
		}
	}
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			return r, fmt.Errorf("%s %s: Content-Type %q, want application/json: %s", method, path, ct, raw)
		}
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return r, nil
}

// expect checks an answer's status and, for an error, its code.
func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %s, want status %d %s", r, status, code)
	}
	if code != "" {
		if got := str(r.body, "error.code"); got != code {
			t.Fatalf("got %s, want error code %q", r, code)
		}
		if str(r.body, "error.message") == "" {
			t.Fatalf("got %s: the error has no message", r)
		}
	}
}

// expectStep checks a 200 answer naming the next step.
func expectStep(t *testing.T, r response, next string) {
	t.Helper()
	expect(t, r, http.StatusOK, "")
	if got := str(r.body, "next"); got != next {
		t.Fatalf("got %s, want next %q", r, next)
	}
}

// get follows a dotted path into decoded JSON.
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, path string) string {
	s, _ := get(v, path).(string)
	return s
}

func has(v any, path string) bool {
	i := strings.LastIndexByte(path, '.')
	parent, key := v, path
	if i >= 0 {
		parent, key = get(v, path[:i]), path[i+1:]
	}
	m, ok := parent.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

func strList(t *testing.T, v any, path string) []string {
	t.Helper()
	list, ok := get(v, path).([]any)
	if !ok {
		t.Fatalf("%s is not a list in %v", path, v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%s[%d] is not a string: %v", path, i, x)
		}
		out[i] = s
	}
	return out
}

// email is one message from the outbox.
type email struct {
	file    string
	to      string
	subject string
	body    string
}

// line answers the value of the body line "KEY: VALUE", or "".
func (m email) line(key string) string {
	for _, l := range strings.Split(m.body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readOutbox parses every message in DATA/outbox, oldest first.
func readOutbox(t *testing.T, data string) []email {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var dec mime.WordDecoder
	out := make([]email, 0, len(names))
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: not an RFC 5322 message: %v", name, err)
		}
		to, err := mail.ParseAddress(msg.Header.Get("To"))
		if err != nil {
			t.Fatalf("%s: To: %v", name, err)
		}
		if _, err := mail.ParseAddress(msg.Header.Get("From")); err != nil {
			t.Fatalf("%s: From: %v", name, err)
		}
		if _, err := msg.Header.Date(); err != nil {
			t.Fatalf("%s: Date: %v", name, err)
		}
		subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("%s: Subject: %v", name, err)
		}
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, email{file: filepath.Base(name), to: to.Address, subject: subject, body: string(body)})
	}
	return out
}

// mailTo answers the messages to addr, oldest first.
func mailTo(t *testing.T, data, addr string) []email {
	t.Helper()
	var out []email
	for _, m := range readOutbox(t, data) {
		if strings.EqualFold(m.to, addr) {
			out = append(out, m)
		}
	}
	return out
}

func subjects(list []email) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.subject
	}
	return out
}

// lastMail answers the newest message to addr with subject, failing when there is none.
func lastMail(t *testing.T, data, addr, subject string) email {
	t.Helper()
	list := mailTo(t, data, addr)
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].subject == subject {
			return list[i]
		}
	}
	t.Fatalf("no %q email to %s; it has %q", subject, addr, subjects(list))
	return email{}
}

// temporaryPassword answers the temporary password of the newest "New Password" email to addr.
func temporaryPassword(t *testing.T, data, addr string) string {
	t.Helper()
	pw := lastMail(t, data, addr, "New Password").line("Temporary password")
	if pw == "" {
		t.Fatalf("the New Password email to %s has no \"Temporary password:\" line", addr)
	}
	rememberSecret(pw)
	return pw
}

// oathtool computes TOTP codes with the real oathtool (OATH Toolkit).
type oathtool struct{ path string }

// code answers the code of secret at time at, as oathtool --totp -b --now "..." prints it.
func (o oathtool) code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	return o.run(t, "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05")+" UTC", secret)
}

// current answers the code of secret now, as plain oathtool --totp -b prints it.
func (o oathtool) current(t *testing.T, secret string) string {
	t.Helper()
	return o.run(t, "--totp", "-b", secret)
}

func (o oathtool) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(o.path, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oathtool %s: %v", strings.Join(args, " "), err)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool %s printed %q", strings.Join(args, " "), out)
	}
	rememberCode(code)
	return code
}

const period = 30

func stepAt(at time.Time) int64 { return at.Unix() / period }

// middleOf answers a time in the middle of step s.
func middleOf(s int64) time.Time { return time.Unix(s*period+period/2, 0) }

// authenticator is an authenticator app holding one key, which remembers the last step it
// gave a code of, as the server does, so that the next code chosen is one the server has not
// seen used (SPEC §3: the previous, current and next steps are accepted, each once).
type authenticator struct {
	tool   oathtool
	secret string
	last   int64
	now    func() time.Time // the real clock: the server checks codes against it
}

func newAuthenticator(tool oathtool, secret string) *authenticator {
	rememberSecret(secret)
	return &authenticator{tool: tool, secret: secret, last: -1, now: time.Now}
}

// fresh answers a code of the current step, or of the next one when the current one was
// used; it never waits. Either stays accepted for at least a whole step from now (until the
// step after it ends), so that a slow machine between choosing a code and the server checking
// it cannot make it stale; an older step's code could have only moments left. Each
// authenticator is used for at most two quick codes in a row, which the current and next
// steps always allow.
func (a *authenticator) fresh(t *testing.T) (string, int64) {
	t.Helper()
	cur := stepAt(a.now())
	s := max(cur, a.last+1)
	if s > cur+1 {
		t.Fatalf("no unused step is accepted now for a whole step (last used %d, now %d): the test uses one key too often", a.last, cur)
	}
	a.last = s
	return a.tool.code(t, a.secret, middleOf(s)), s
}

// next answers the code of the next step, as oathtool --now "<now + 30s>" prints it.
func (a *authenticator) next(t *testing.T) (string, int64) {
	t.Helper()
	at := a.now().Add(period * time.Second)
	s := stepAt(at)
	if s <= a.last {
		t.Fatalf("the next step %d was already used (last %d)", s, a.last)
	}
	a.last = s
	return a.tool.code(t, a.secret, at), s
}

// wrong answers a well-formed code that no step near now gives.
func (a *authenticator) wrong(t *testing.T) string {
	t.Helper()
	now := stepAt(a.now())
	valid := map[string]bool{}
	for s := now - 3; s <= now+3; s++ {
		valid[a.tool.code(t, a.secret, middleOf(s))] = true
	}
	for d := 0; d < 10; d++ {
		c := strings.Repeat(strconv.Itoa(d), 6)
		if !valid[c] {
			rememberCode(c)
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// secrets remembers every password, token, key and code the tests saw, so that the server's
// log can be searched for them.
var secrets = struct {
	sync.Mutex
	text  map[string]bool // searched for as substrings, without regard to case
	codes map[string]bool // 6-digit codes, searched for as whole numbers
}{text: map[string]bool{}, codes: map[string]bool{}}

func rememberSecret(s string) {
	if s == "" {
		return
	}
	secrets.Lock()
	secrets.text[s] = true
	secrets.Unlock()
}

func rememberCode(c string) {
	secrets.Lock()
	secrets.codes[c] = true
	secrets.Unlock()
}

// rememberBackupCodes remembers codes as shown and as they may be typed.
func rememberBackupCodes(codes []string) {
	for _, c := range codes {
		rememberSecret(c)
		rememberSecret(strings.ReplaceAll(c, "-", ""))
	}
}

// checkServerLog fails when a log line holds anything secret. Every line must be a JSON log
// record except, at bootstrap only, the two plain lines announcing the first admin.
func checkServerLog(t *testing.T, lines []string, bootstrap bool) {
	t.Helper()
	plain := 0
	checkLog(t, lines, func(line string) bool {
		if bootstrap && (strings.HasPrefix(line, "Made the first admin account") || strings.HasPrefix(line, "Temporary password: ")) {
			plain++
			return true
		}
		return false
	})
	if bootstrap && plain != 2 {
		t.Errorf("the bootstrap printed %d plain lines, want 2 (the account and its temporary password)", plain)
	}
}

// cliStderr collects the standard error of every command-line run, by data folder.
var cliStderr = struct {
	sync.Mutex
	lines map[string][]string
}{lines: map[string][]string{}}

// checkCLILog fails when the log lines of the command-line runs on data hold anything secret;
// plain lines are the commands' "twofold: ..." refusals and usage.
func checkCLILog(t *testing.T, data string) {
	t.Helper()
	cliStderr.Lock()
	lines := cliStderr.lines[data]
	cliStderr.Unlock()
	checkLog(t, lines, func(string) bool { return true })
}

// checkLog fails when a JSON log line holds anything secret, or when a line is neither a
// JSON record nor a plain line that plain allows.
func checkLog(t *testing.T, lines []string, plain func(line string) bool) {
	t.Helper()
	secrets.Lock()
	defer secrets.Unlock()
	for i, line := range lines {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "{") {
			if !plain(line) {
				t.Errorf("log line %d is not a JSON record: %q", i+1, line)
			}
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not valid JSON: %v: %q", i+1, err, line)
		}
		lower := strings.ToLower(line)
		for s := range secrets.text {
			if strings.Contains(lower, strings.ToLower(s)) {
				t.Errorf("log line %d holds a secret %q: %s", i+1, s, line)
			}
		}
		for _, marker := range []string{"otpauth:", "\"password\":", "\"new_password\":", "\"backup_code\":"} {
			if strings.Contains(lower, marker) {
				t.Errorf("log line %d mentions %q: %s", i+1, marker, line)
			}
		}
		for c := range secrets.codes {
			for rest := line; ; {
				j := strings.Index(rest, c)
				if j < 0 {
					break
				}
				before := j == 0 || rest[j-1] < '0' || rest[j-1] > '9'
				after := j+len(c) == len(rest) || rest[j+len(c)] < '0' || rest[j+len(c)] > '9'
				if before && after {
					t.Errorf("log line %d holds the code %s: %s", i+1, c, line)
					break
				}
				rest = rest[j+1:]
			}
		}
	}
}

// TestAuthenticatorCodesLastAWholeStep checks the codes the process tests send: at any moment
// of a step, fresh and next choose a code the server goes on accepting for at least a whole
// step, so that no test depends on how quickly a busy machine gets the code to the server.
func TestAuthenticatorCodesLastAWholeStep(t *testing.T) {
	t.Parallel()
	tool := oathtool{apptest.Need(t, "oathtool")}
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	base := int64(59_000_000) * period // the start of a step
	for _, into := range []time.Duration{0, time.Second, 3 * time.Second, 4 * time.Second, 15 * time.Second,
		26 * time.Second, 27 * time.Second, 29*time.Second + 999*time.Millisecond} {
		now := time.Unix(base, 0).Add(into)
		a := newAuthenticator(tool, secret)
		a.now = func() time.Time { return now }
		for _, pick := range []func(*testing.T) (string, int64){a.fresh, a.fresh} {
			code, s := pick(t)
			if want := tool.code(t, secret, middleOf(s)); code != want {
				t.Fatalf("%s into a step: the code %s is not of step %d (%s)", into, code, s, want)
			}
			// The server accepts step s while its own step is s-1, s or s+1.
			if accepted := time.Unix((s+2)*period, 0).Sub(now); s < stepAt(now)-1 || accepted < period*time.Second {
				t.Errorf("%s into a step: a code of step %d (now %d) is accepted for only %s more", into, s, stepAt(now), accepted)
			}
		}
		b := newAuthenticator(tool, secret)
		b.now = a.now
		b.fresh(t)
		if _, s := b.next(t); time.Unix((s+2)*period, 0).Sub(now) < period*time.Second || s > stepAt(now)+1 {
			t.Errorf("%s into a step: next chose step %d (now %d)", into, s, stepAt(now))
		}
	}
}
