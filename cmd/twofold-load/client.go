package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// cookieName is the session cookie of the API (internal/httpapi.CookieName).
const cookieName = "twofold_session"

// requestTimeout bounds one request (the server's own write timeout is 30 seconds).
const requestTimeout = 35 * time.Second

// client speaks the JSON API of one server.
type client struct {
	base string
	http *http.Client
}

// newClient makes a client that keeps up to conns connections open to base.
func newClient(base string, conns int) *client {
	tr := &http.Transport{
		// Loopback only: the dialer never resolves names (the URL holds an IP literal).
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		Proxy:               nil, // never through a proxy from the environment
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// answer is one API answer, reduced to what the load generator counts.
type answer struct {
	status     int    // 0 when the request failed before an answer
	code       string // the error code of a refusal
	next       string // the sign-in step of a success
	token      string // the new session cookie, when one was set
	retryAfter bool   // whether a Retry-After header came
	took       time.Duration
	err        error
}

// ok reports a 2xx answer.
func (a answer) ok() bool { return a.status >= 200 && a.status < 300 }

// outcome names the answer for the status counts: "200", "503 unavailable", "transport error".
func (a answer) outcome() string {
	switch {
	case a.status == 0:
		return "transport error"
	case a.ok() || a.code == "":
		return fmt.Sprint(a.status)
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

// post sends a JSON body with the session cookie and reads the answer.
func (c *client) post(ctx context.Context, path, token string, body any) answer {
	b, err := json.Marshal(body)
	if err != nil {
		return answer{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	var out struct {
		Next  string `json:"next"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After") != "", took: time.Since(start)}
	if err != nil {
		a.status, a.err = 0, err
		return a
	}
	if json.Unmarshal(raw, &out) == nil {
		a.next, a.code = out.Next, out.Error.Code
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			a.token = ck.Value
		}
	}
	return a
}

// signIn is the password step.
func (c *client) signIn(ctx context.Context, username, password string) answer {
	return c.post(ctx, "/api/v1/signin", "", map[string]string{"username": username, "password": password})
}

// verify is the second-factor step with a TOTP code.
func (c *client) verify(ctx context.Context, token, code string) answer {
	return c.post(ctx, "/api/v1/signin/mfa/verify", token, map[string]string{"code": code})
}

// healthz asks /healthz.
func (c *client) healthz(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(resp.Status))
	}
	return nil
}
