package apptest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Need answers the path of the first of names found on PATH or in /usr/sbin (where Debian puts
// nginx). Without any, the test is skipped on a developer's machine and fails in CI, whose
// .ci/run installs every program the tests talk to.
func Need(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if p := filepath.Join("/usr/sbin", n); isFile(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (.ci/run installs it)", names[0])
	}
	t.Skipf("%s is not installed", names[0])
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// FreePort answers a port of 127.0.0.1 that nothing listens on now, for a program that cannot
// listen on port 0 or whose address must be known before it starts. Another process may take
// it before the program does.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Loopback answers a transport that reaches every host on 127.0.0.1, at the port of the
// address asked for, dialling with d: the host names of tests resolve nowhere else.
func Loopback(d *net.Dialer) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}}
}

// StartNginx runs nginx (bin) in the foreground, one process, with site (server blocks)
// included in a main configuration that keeps every file nginx writes inside dir: its error log
// is dir/error.log. The configuration is checked with nginx -t first. It does not wait for
// nginx to listen.
func StartNginx(t testing.TB, hang time.Duration, bin, dir, site string) *Process {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 512; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(dir, "error.log")
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", conf, "-e", errLog).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	return StartProcess(t, hang, "nginx", exec.Command(bin, "-p", dir, "-c", conf, "-e", errLog,
		"-g", "daemon off; master_process off;"))
}
