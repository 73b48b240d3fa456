package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/httpapi"
	"github.com/twofold-auth/twofold/internal/provider"
	"github.com/twofold-auth/twofold/internal/sso"
	"github.com/twofold-auth/twofold/internal/web"
)

// wireHTTP makes the API, sign-in through the identity provider and the pages on one mux,
// behind the API's cross-origin protection, and the server that will answer with them.
func (a *App) wireHTTP(ctx context.Context, c Config) error {
	mux := http.NewServeMux()
	secure := strings.HasPrefix(a.BaseURL, "https://")
	a.API = httpapi.New(httpapi.Config{Service: a.Service, Provider: a.Provider, Logger: a.Log,
		TrustedProxies: c.TrustedProxies, SecureCookies: secure, CookieDomain: a.CookieDomain, Ready: a.Store.Ping,
		Registry: a.Registry, Access: a.Access, BaseURL: a.BaseURL}, mux)
	a.API.RegisterRules(a.Rules, mux)
	ssoStart, err := a.wireSSO(ctx, c.SSO, mux)
	if err != nil {
		return err
	}
	a.Pages, err = web.New(web.Config{Service: a.Service, Provider: a.Provider, Logger: a.Log,
		TrustedProxies: c.TrustedProxies, SecureCookies: secure, CookieDomain: a.CookieDomain, SSOURL: ssoStart,
		Rules: a.Rules, SecurityKeys: web.ServiceKeys(a.Service)})
	if err != nil {
		return err
	}
	mux.Handle("/", a.Pages)
	if a.Provider != nil {
		protocol := a.Provider.Handler()
		for _, path := range provider.ProtocolPaths {
			mux.Handle(path, protocol)
		}
	}
	a.Handler = a.API.Protect(mux, a.Pages) // cross-origin writes refused first
	a.srv = &http.Server{
		Handler:           a.idle.count(a.Handler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	return nil
}

// wireSSO adds sign-in through the identity provider to the routes (they answer 404 when no
// provider is configured) and answers the start URL for the sign-in page ("" hides the link).
// Discovery is tried at once in the background, so that a provider out of reach shows in the
// log at start rather than at the first sign-in. The client secret is never logged.
func (a *App) wireSSO(ctx context.Context, s SSO, mux *http.ServeMux) (string, error) {
	base := strings.TrimRight(a.BaseURL, "/")
	routes := httpapi.SSOConfig{Home: base + "/", SignInPage: base + "/signin"}
	if s.Issuer == "" {
		a.API.RegisterSSO(routes, mux)
		return "", nil
	}
	redirect := s.RedirectURL
	if redirect == "" {
		redirect = base + "/api/v1/sso/callback"
	} else if !sameOrigin(redirect, base) {
		// The sign-in's cookie is set by the pages' host when it starts, and must come back
		// with the callback.
		return "", &SettingsError{fmt.Errorf("--sso-redirect-url %q is not on the origin of --base-url %s", redirect, base)}
	}
	c, err := sso.New(sso.Config{Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		RedirectURL: redirect, UsernameClaim: s.UsernameClaim, Keys: a.Keys, HTTPClient: s.HTTPClient, Now: s.Now})
	if err != nil {
		return "", &SettingsError{err}
	}
	claim := s.UsernameClaim
	if claim == "" {
		claim = sso.DefaultUsernameClaim
	}
	a.Log.Info("sign-in through the identity provider", "issuer", s.Issuer, "client_id", s.ClientID,
		"redirect_url", redirect, "username_claim", claim, "start", httpapi.SSOStartPath)
	a.SSO = c
	routes.Client = c
	a.API.RegisterSSO(routes, mux)
	go func() {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := c.Discover(dctx); err != nil {
			a.Log.Warn("the identity provider cannot be reached yet; sign-ins through it will retry", "issuer", s.Issuer, "err", err)
		}
	}()
	return httpapi.SSOStartPath, nil
}

// Addr is the address the server listens on, HOST:PORT ("" without one).
func (a *App) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// URL is where the server listens, http://HOST:PORT ("" without an address).
func (a *App) URL() string {
	if a.ln == nil {
		return ""
	}
	return "http://" + a.Addr()
}

// Serve answers requests, delivers the SMTP queue and the applications' back-channel logouts,
// sweeps expired sessions and gives free heap back when idle (idleMemory) until ctx ends; then
// it stops taking requests and gives those in flight 10 seconds to finish.
func (a *App) Serve(ctx context.Context) error {
	if a.srv == nil {
		return errors.New("app: opened without an address to serve on")
	}
	if a.Queue != nil {
		go a.Queue.Run(ctx)
		a.Log.Info("mail delivery over SMTP", "server", fmt.Sprint(a.Queue.Transport()), "queue", a.Queue.Dir())
	}
	if a.Provider != nil {
		go a.Provider.Logouts().Run(ctx)
	}
	go a.sweep(ctx)
	go a.idle.run(ctx.Done())
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.Log.Info("twofold stopping")
	return a.srv.Shutdown(shutdown)
}

// sweep runs Sweep every minute until ctx ends.
func (a *App) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Sweep(ctx)
		}
	}
}

// Sweep is one pass of the minute sweep a serving instance runs: it removes expired sign-ins
// and sessions and queues the logout notices of the applications of every session that ended
// without them (the account service's Sweep), then the applications' expired requests, tokens
// and session records (the provider's). Failures are logged; the next pass tries again.
func (a *App) Sweep(ctx context.Context) {
	removed, queued, err := a.Service.Sweep(ctx)
	if err != nil {
		a.Log.Warn("session sweep failed", "err", err)
	}
	if removed > 0 {
		a.Log.Info("expired sessions removed", "count", removed)
	}
	if queued > 0 {
		a.Log.Info("back-channel logouts queued for ended sessions", "count", queued)
	}
	if a.Provider != nil {
		if err := a.Provider.Sweep(ctx); err != nil {
			a.Log.Warn("applications' sweep failed", "err", err)
		}
	}
}
