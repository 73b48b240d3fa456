package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/options"
)

var upstreamLine = regexp.MustCompile(`(?m)^(\s*server )127\.0\.0\.1:808[123]( .*;)$`)

// siteConfig is docs/nginx.conf with the test's instances as upstreams and port as the listen
// port: the file the documentation gives, exercised as it is otherwise.
func siteConfig(t *testing.T, port int, upstreams []string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	if n := len(upstreamLine.FindAllString(conf, -1)); n != len(upstreams) {
		t.Fatalf("docs/nginx.conf has %d upstream servers 127.0.0.1:8081-8083, want %d", n, len(upstreams))
	}
	i := 0
	conf = upstreamLine.ReplaceAllStringFunc(conf, func(line string) string {
		m := upstreamLine.FindStringSubmatch(line)
		i++
		return m[1] + strings.TrimPrefix(upstreams[i-1], "http://") + m[2]
	})
	if !strings.Contains(conf, "    listen 80;\n") {
		t.Fatal("docs/nginx.conf has no `listen 80;` line")
	}
	return strings.Replace(conf, "    listen 80;\n", fmt.Sprintf("    listen 127.0.0.1:%d;\n", port), 1)
}

// errPortTaken is startNginx's answer when another process took the port that
// apptest.FreePort found free (other tests start servers at the same time): the caller tries
// another port.
var errPortTaken = errors.New("the port was taken before nginx listened on it")

// startNginx runs nginx in the foreground on the site configuration, with every file it
// writes inside the test's temporary folder, and waits until it answers.
func startNginx(t *testing.T, site string, port int) (string, error) {
	t.Helper()
	dir := t.TempDir()
	p := apptest.StartNginx(t, hang, apptest.Need(t, "nginx"), dir, site)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.Done():
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			if strings.Contains(string(log), "Address already in use") {
				return "", errPortTaken
			}
			t.Fatalf("nginx ended:\n%s", log)
		default:
		}
		// Only nginx's own answer counts: whatever took the port may answer /healthz too.
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Server"), "nginx") {
				return base, nil
			}
		}
		if time.Since(start) > hang {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx does not answer on %s:\n%s", base, log)
		}
	}
}

// TestNginxPortTaken checks startNginx on a port that another server took after
// apptest.FreePort found it free, as a server of a test running at the same time may: it
// answers errPortTaken for the caller to try another port, even though that server answers
// /healthz as Twofold does.
func TestNginxPortTaken(t *testing.T) {
	apptest.Need(t, "nginx")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go other.Serve(ln)
	t.Cleanup(func() { other.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	base, err := startNginx(t, siteConfig(t, port, []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}), port)
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("startNginx on a taken port answered %q, %v; want errPortTaken", base, err)
	}
}

// requestsServed sums an instance's twofold_http_requests_total for route.
func requestsServed(t *testing.T, base, route string) int {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n := 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "twofold_http_requests_total{") && strings.Contains(l, `route="`+route+`"`) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

// TestNginx runs three instances behind Debian's nginx with docs/nginx.conf: a whole first
// sign-in and a returning sign-in go through it, nginx spreads requests over every instance,
// and the instances see the client's address, not nginx's, for the per-address limit.
func TestNginx(t *testing.T) {
	apptest.Need(t, "nginx") // skip before starting anything when there is no nginx
	c := newCluster(t, 3, "--trusted-proxies", "127.0.0.1")
	c.mustCLI(t, "options", "set", "failedSignInsPerAddress", "2") // used at the end
	optionSet := time.Now()
	var lb string
	for try := 1; ; try++ {
		port := apptest.FreePort(t)
		var err error
		if lb, err = startNginx(t, siteConfig(t, port, c.bases()), port); err == nil {
			break
		} else if try == 5 {
			t.Fatal(err)
		}
	}

	a := enrol(t, "gus", c.addUser(t, "gus", false), lb)
	if r := a.session.call(t, lb, "GET", "/api/v1/me", nil); r.status != http.StatusOK || r.str("username") != "gus" {
		t.Fatalf("/me through nginx: %s", r)
	}
	s := signIn(t, lb, "gus")
	expectNext(t, "a code through nginx", s.call(t, lb, "POST", "/api/v1/signin/mfa/verify",
		map[string]string{"code": totp(t, a.secret, a.fresh())}), "done")
	expect(t, "/metrics through nginx", s.call(t, lb, "GET", "/metrics", nil), http.StatusNotFound, "")

	// Round robin: a dozen requests reach all three instances.
	const route = "GET /api/v1/signin"
	before := make([]int, 3)
	for i, in := range c.ins {
		before[i] = requestsServed(t, in.url, route)
	}
	for range 12 {
		expect(t, "GET /signin through nginx", (&client{}).call(t, lb, "GET", "/api/v1/signin", nil), http.StatusUnauthorized, "not_signed_in")
	}
	for i, in := range c.ins {
		if n := requestsServed(t, in.url, route) - before[i]; n == 0 {
			t.Errorf("instance %d served none of 12 requests through nginx", i)
		}
	}

	// The per-address limit counts the address nginx puts in X-Forwarded-For.
	// Every instance has read the option again since it was set (options.MaxAge).
	time.Sleep(time.Until(optionSet.Add(options.MaxAge + 100*time.Millisecond)))
	from := func(addr string) response {
		h := &client{}
		r, err := h.doHeader(lb, "POST", "/api/v1/signin", map[string]string{"username": "gus", "password": "wrong password 123"},
			"X-Forwarded-For", addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// nginx appends the peer (127.0.0.1, a trusted proxy) to what the client sent: the
	// address before it is the client's.
	expect(t, "failure 1 from 198.51.100.7", from("198.51.100.7"), http.StatusUnauthorized, "invalid_credentials")
	expect(t, "failure 2 from 198.51.100.7", from("198.51.100.7"), http.StatusUnauthorized, "invalid_credentials")
	expect(t, "a third try from 198.51.100.7", from("198.51.100.7"), http.StatusTooManyRequests, "rate_limited")
	expect(t, "a try from another address", from("198.51.100.8"), http.StatusUnauthorized, "invalid_credentials")
}
