package proxies

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestNginxAbsoluteForm: a client may write the whole address on the request line (RFC 9112
// §3.2.2), and nginx then serves the site the request line names, whatever the Host header
// says. Twofold must be asked about that same site: a request for a denied host, or for an
// admins-only path, whose Host header names the bypass host is still refused, and never
// reaches the application.
func TestNginxAbsoluteForm(t *testing.T) {
	need(t, "nginx", "oathtool")
	tf := startTwofold(t, staticRules(t))
	up, upAddr := startUpstream(t)
	px := startNginx(t, upAddr, tf.addr)
	bob := tf.session(t, tf.addPerson(t, "bob", "internal", true)) // not in admins

	public := fmt.Sprintf("public.%s:%d", domain, px.port)
	cases := []struct {
		name, target, host, token string
		status                    int
	}{
		// The control: the raw request itself goes through.
		{"bypass, origin form", "/hello", public, "", 200},
		{"deny host, no session", px.url("deny", "/"), public, "", 403},
		{"admins only, bob", px.url("app", "/admin/users"), public, bob, 403},
		{"no rule: default deny", px.url("other", "/"), public, bob, 403},
		// And the other way round: the bypass host on the request line is served as such.
		{"bypass host, Host of the deny host", px.url("public", "/hello"), fmt.Sprintf("deny.%s:%d", domain, px.port), "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := up.count()
			if got := rawGet(t, px.port, c.target, c.host, c.token); got != c.status {
				t.Fatalf("GET %s with Host %s: %d, want %d", c.target, c.host, got, c.status)
			}
			if c.status != 200 && up.count() != n {
				t.Errorf("a denied request reached the application")
			}
		})
	}
}

// rawGet sends a GET for target (a path, or a whole address) with the Host header host and the
// session token ("" for none) on a connection of its own to the proxy's port, and answers the
// status. It writes the request by hand: Go's http.Client writes a whole address on the request
// line only to a forward proxy.
func rawGet(t *testing.T, port int, target, host, token string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(hang))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/html\r\nConnection: close\r\n", target, host)
	if token != "" {
		req += "Cookie: twofold_session=" + token + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
