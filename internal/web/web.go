// Package web serves Twofold's pages (SPEC §4 "Pages"): server-rendered HTML over the same
// account service as the JSON API. A handler parses the form, calls the service and renders;
// every rule lives in the service. Templates and static files are embedded and parsed by New, so
// a missing or broken page stops the server at start instead of failing a person later.
//
// The pages work without JavaScript; one small script of our own adds Copy and Print to the
// backup codes and the enrolment key (and Copy to an application's new secret), holds Done
// until the codes are saved, and keeps the Regenerate dialog's focus. A second, webauthn.js, is
// loaded only where a security key is offered (SPEC §9): a key is used through the browser's
// navigator.credentials alone, so that is the one part that needs JavaScript, and the page says
// so without it. Every answer carries a strict Content-Security-Policy (no inline script or
// style, scripts' requests only to us), frame-ancestors 'none', Referrer-Policy same-origin
// and Cache-Control no-store, and form posts from other origins are refused.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/twofold-auth/twofold/internal/clientaddr"
	"github.com/twofold-auth/twofold/internal/cookie"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
)

// CookieName is the session cookie, the same as the JSON API's: a sign-in begun on a page can
// be read by the API and the other way round.
const CookieName = cookie.Name

// MaxForm is the largest form body accepted, as for the API.
const MaxForm = 64 << 10

// ContentSecurityPolicy is sent with every answer: scripts and styles only from our own
// files (no inline code), images from us or data: URIs (the QR code), requests of scripts only
// to us (webauthn.js asks the JSON API for a security key's options), forms only to us, and no
// framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html static/*
var embedded embed.FS

// pages are the templates New parses, each together with templates/layout.html. A name missing
// here or a file missing there is an error at start.
var pages = []string{
	"signin", "enroll", "verify", "backup", "codes", "password",
	"profile", "admin_options", "admin_confirm", "admin_users", "admin_user", "admin_user_new", "admin_user_confirm",
	"admin_audit", "error", "locked",
	"consent", "noaccess", "onward", "signedout", "stepup",
	"admin_clients", "admin_client_new", "admin_client_secret", "admin_client", "admin_client_confirm",
	"admin_rules", "admin_rule_confirm",
	"profile_applications",
}

// Config holds what the pages need.
type Config struct {
	Service *account.Service
	// Provider is the OpenID Connect provider; nil without one (its pages answer 404).
	Provider *provider.Provider
	Logger   *slog.Logger
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SecureCookies adds Secure to the cookie, when the base URL is https.
	SecureCookies bool
	// CookieDomain, when set, is the cookie's Domain (--cookie-domain, SPEC §8).
	CookieDomain string
	// SSOURL is where "Login with the identity provider" leads; empty hides the link.
	SSOURL string
	// Rules keeps the access rules of forward auth (SPEC §8); nil: the page "Access rules"
	// answers 404.
	Rules *access.Service
	// SecurityKeys finishes what webauthn.js begins (SPEC §9); nil: no page offers a key.
	SecurityKeys SecurityKeys
}

// Handler serves the pages and their static files.
type Handler struct {
	svc     *account.Service
	oidc    *provider.Provider
	log     *slog.Logger
	trusted []netip.Prefix
	cookie  cookie.Attrs
	ssoURL  string
	rules   *access.Service
	keys    SecurityKeys

	pages  map[string]*template.Template
	assets map[string]asset
	mux    *http.ServeMux
	next   http.Handler
}

type asset struct {
	body        []byte
	contentType string
	version     string
}

// New parses every template and loads the static files; it fails when one is missing or broken.
func New(c Config) (*Handler, error) {
	return newHandler(c, embedded)
}

func newHandler(c Config, files fs.FS) (*Handler, error) {
	h := &Handler{svc: c.Service, oidc: c.Provider, log: c.Logger, trusted: c.TrustedProxies,
		cookie: cookie.Attrs{Secure: c.SecureCookies, Domain: c.CookieDomain}, ssoURL: c.SSOURL,
		pages: map[string]*template.Template{}, assets: map[string]asset{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.rules, h.keys = c.Rules, c.SecurityKeys
	for _, name := range []string{"style.css", "app.js", "webauthn.js"} {
		b, err := fs.ReadFile(files, "static/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: static file: %w", err)
		}
		sum := sha256.Sum256(b)
		h.assets[name] = asset{body: b, contentType: mime.TypeByExtension(path.Ext(name)),
			version: hex.EncodeToString(sum[:6])}
	}
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := h.assets[name]
			if !ok {
				return "", fmt.Errorf("no static file %q", name)
			}
			return "/static/" + name + "?v=" + a.version, nil
		},
		"field":      newField,
		"when":       when,
		"lockEnds":   h.lockEnds,
		"valueLabel": valueLabel,
		"deref":      func(n *int) int { return *n },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, name := range pages {
		t, err := template.Must(layout.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: templates: %s.html defines no \"content\"", name)
		}
		h.pages[name] = t
	}
	h.routes()
	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	// An application may post its logout request (RP-initiated logout); it only ends the
	// session and redirects only to a registered address (docs/APPLICATIONS.md).
	protect.AddInsecureBypassPattern("POST " + provider.EndSessionPath)
	// The authorization endpoint takes posts from applications' pages by design (OpenID
	// Connect Core §3.1.2.1); it changes nothing before the person acts on Twofold's pages.
	protect.AddInsecureBypassPattern("POST " + provider.AuthorizePath)
	h.next = protect.Handler(http.HandlerFunc(h.dispatch))
	return h, nil
}

// ServeHTTP sets the security headers and serves the request. Cross-origin form posts are
// refused here too, so the pages are protected wherever they are mounted.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	h.next.ServeHTTP(w, r)
}

// setHeaders sets the headers of every answer of the pages.
func setHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin keeps addresses from leaving the site yet lets a browser send our own Origin
	// with a form post: under no-referrer it sends "Origin: null", and over plain http on a host
	// name (no Sec-Fetch-Site outside a secure context) that refused every form of ours.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Pages show keys, codes and account state: no cache may keep them. Static files override.
	hd.Set("Cache-Control", "no-store")
}

// handler is a page handler: it writes its answer and returns any error for fail to render.
type handler func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) routes() {
	h.mux = http.NewServeMux()
	routes := []struct {
		pattern string
		h       handler
	}{
		{"GET /{$}", h.home},
		{"GET /signin", h.signInPage},
		{"POST /signin", h.signIn},
		{"POST /signin/step-up", h.stepUpForm},
		{"GET /signin/enroll", h.enrollPage},
		{"POST /signin/enroll", h.enrollStart},
		{"GET /signin/enroll/verify", h.enrollVerifyPage},
		{"POST /signin/enroll/verify", h.enrollVerify},
		{"POST /signin/enroll/skip", h.enrollSkip},
		{"POST /signin/enroll/key", h.enrollKey},
		{"GET /signin/verify", h.verifyPage},
		{"POST /signin/verify", h.verify},
		{"POST /signin/verify/key", h.verifyKey},
		{"GET /signin/backup", h.backupPage},
		{"POST /signin/backup", h.backup},
		{"GET /signin/password", h.passwordPage},
		{"POST /signin/password", h.password},
		{"POST /signout", h.signOut},
		{"GET /profile", h.profile},
		{"GET /profile/security", h.security},
		{"POST /profile/security/password", h.changePassword},
		{"POST /profile/security/enroll", h.profileEnrollStart},
		{"GET /profile/security/enroll", h.profileEnrollPage},
		{"GET /profile/security/enroll/verify", h.profileEnrollVerifyPage},
		{"POST /profile/security/enroll/verify", h.profileEnrollVerify},
		{"POST /profile/security/backup-codes", h.regenerate},
		{"POST /profile/security/backup-codes/key", h.regenerateKey},
		{"POST /profile/security/keys", h.addKey},
		{"POST /profile/security/keys/remove", h.removeKey},
		{"POST /profile/security/devices/forget", h.forgetDevice},
		{"POST /profile/security/devices/forget-all", h.forgetDevices},
		{"GET /admin/options", h.options},
		{"POST /admin/options", h.optionsSave},
		{"POST /admin/options/confirm", h.optionsConfirm},
		{"GET /admin/users", h.users},
		{"GET /admin/users/new", h.userNew},
		{"POST /admin/users", h.userCreate},
		{"GET /admin/users/{username}", h.user},
		{"POST /admin/users/{username}/mfa/reset", h.userResetMFA},
		{"POST /admin/users/{username}/unlock", h.userUnlock},
		{"POST /admin/users/{username}/password/reset", h.userResetPassword},
		{"POST /admin/users/{username}/disable", h.userDisable},
		{"POST /admin/users/{username}/enable", h.userEnable},
		{"POST /admin/users/{username}/groups", h.userGroups},
		{"GET /admin/audit", h.audit},
		{"GET " + provider.AuthorizePath, h.authorize},
		{"POST " + provider.AuthorizePath, h.authorize},
		{"GET " + provider.ContinuePath, h.continueAuthorization},
		{"POST /oidc/consent", h.consent},
		{"POST /oidc/back", h.backToClient},
		{"GET " + provider.EndSessionPath, h.endSession},
		{"POST " + provider.EndSessionPath, h.endSession},
		{"GET /admin/clients", h.clients},
		{"GET /admin/clients/new", h.clientNew},
		{"POST /admin/clients", h.clientAdd},
		{"GET /admin/clients/{id}", h.client},
		{"POST /admin/clients/{id}/secret", h.clientSecret},
		{"POST /admin/clients/{id}/remove", h.clientRemove},
		{"GET /admin/rules", h.rulesList},
		{"POST /admin/rules", h.ruleAdd},
		{"GET /admin/rules/check", h.ruleCheck},
		{"POST /admin/rules/{n}/move", h.ruleMove},
		{"POST /admin/rules/{n}/remove", h.ruleRemove},
		{"GET /profile/applications", h.applications},
		{"POST /profile/applications/{id}/remove", h.removeAccess},
	}
	for _, rt := range routes {
		h.mux.Handle(rt.pattern, h.wrap(rt.h))
	}
	h.mux.HandleFunc("GET /static/{name}", h.static)
}

// dispatch serves a route, or our own 404 and 405 pages.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.errorPage(w, r, http.StatusMethodNotAllowed, "This page cannot be used that way", errorData{
			Message: "The address is right, but not for this kind of request. Go back and use the page's own buttons."})
		return
	}
	h.errorPage(w, r, http.StatusNotFound, "Page not found", errorData{Message: "There is no page at this address."})
}

func (h *Handler) wrap(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// fail renders an error that no form on the page shows: a sign-in that moved on or ended goes
// to its current step or to the sign-in page; anything else is the error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if h.redirectFor(w, r, err) {
		return
	}
	h.showError(w, r, err, "", errorData{})
}

// SignInFailed answers, for the API's callback of the identity provider, a sign-in through it
// that failed: the error page with the error's status and message, titled for that sign-in and
// linking back to the sign-in page at signIn.
func (h *Handler) SignInFailed(w http.ResponseWriter, r *http.Request, err error, signIn string) {
	setHeaders(w.Header())
	h.showError(w, r, err, "Sign-in through the identity provider failed",
		errorData{BackURL: signIn, BackText: "Back to sign-in"})
}

// showError is the error page of err: its status, Retry-After and message as pages say it,
// under title (by default one that fits its code).
func (h *Handler) showError(w http.ResponseWriter, r *http.Request, err error, title string, d errorData) {
	e := errs.As(err)
	if e.Code == errs.Internal {
		h.log.ErrorContext(r.Context(), "page failed", "route", r.Pattern, "err", err)
	}
	if title == "" {
		title = "Something went wrong"
		switch e.Code {
		case errs.Forbidden:
			title = "Not allowed"
		case errs.NotFound:
			title = "Not found"
		case errs.Locked, errs.RateLimited, errs.Unavailable:
			title = "Please wait"
		}
	}
	errs.SetRetryAfter(w.Header(), e, h.svc.Now)
	d.Message = h.message(e)
	h.errorPage(w, r, errs.Status(e.Code), title, d)
}

// redirectFor handles the errors that move a person elsewhere rather than show a message: a
// request for a step that is not the current one goes to the current step, and a sign-in that
// ended goes back to the sign-in page (or to its step, when the cookie holds an unfinished one).
func (h *Handler) redirectFor(w http.ResponseWriter, r *http.Request, err error) bool {
	var e *errs.Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Code == errs.Conflict && e.Next != "":
		redirect(w, r, stepURL(e.Next))
		return true
	case e.Code == errs.NotSignedIn:
		token := h.token(r)
		if next, _, err := h.svc.State(r.Context(), token); err == nil && next != account.StepDone {
			redirect(w, r, stepURL(next))
			return true
		}
		target := "/signin"
		if token != "" {
			h.setCookie(w, "")
			target += "?m=expired"
		}
		redirect(w, r, target)
		return true
	}
	return false
}

// errorData is the error page: what happened and, when it is not the start page, where to go.
type errorData struct {
	Message           string
	BackURL, BackText string
}

// errorPage renders the error page; every error a page shows outside a form comes here.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title string, d errorData) {
	h.render(w, r, status, "error", &view{Title: title, Nav: h.nav(r), Data: d})
}

func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusForbidden, "Refused: the form came from another site", errorData{
		Message: "This request was sent by a page of another site, so it was refused and nothing changed. " +
			"If you meant to do this, open Twofold yourself and use its own page."})
}

// view is what every template receives.
type view struct {
	Title string
	// Nav is the signed-in account for the top bar; nil on the sign-in pages.
	Nav    *nav
	Notice string
	// Script loads app.js, only on the pages that use it: backup codes, enrolment, the Security
	// tab's dialog, an application's new secret.
	Script bool
	// Keys loads webauthn.js, only on the pages that offer a security key.
	Keys bool
	// InSignIn offers "Cancel sign-in" on the pages of an unfinished sign-in.
	InSignIn bool
	Form     *form
	Data     any
	// Refresh sends the browser on to this address as soon as the page loads (see onward).
	Refresh string
}

type nav struct {
	Username string
	Admin    bool
	Current  string
}

// nav answers the top bar of a finished session, nil otherwise. It is only for display: every
// handler authenticates for itself.
func (h *Handler) nav(r *http.Request) *nav {
	p, err := h.svc.Authenticate(r.Context(), h.token(r))
	if err != nil {
		return nil
	}
	return navOf(p, "")
}

func navOf(p *account.Principal, current string) *nav {
	a := p.Actor()
	return &nav{Username: a.Name, Admin: a.Admin, Current: current}
}

// render executes a page into a buffer first, so that a template error becomes a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if v.Form == nil {
		v.Form = newForm(nil)
	}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		h.log.ErrorContext(r.Context(), "template failed", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// renderForm renders a page whose form shows err (nil: no error): errors that move the person
// elsewhere redirect instead, and the status is the error's.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, name string, v *view, err error) {
	status := http.StatusOK
	if err != nil {
		if h.redirectFor(w, r, err) {
			return
		}
		e := errs.As(err)
		if e.Code == errs.Internal {
			h.log.ErrorContext(r.Context(), "page failed", "route", r.Pattern, "err", err)
		}
		errs.SetRetryAfter(w.Header(), e, h.svc.Now)
		status = errs.Status(e.Code)
		if v.Form != nil {
			// The service's message may hold a machine time; the page says it as pages do.
			if v.Form.Alert == e.Message {
				v.Form.Alert = h.message(e)
			}
			for k, m := range v.Form.Errors {
				if m == e.Message {
					v.Form.Errors[k] = h.message(e)
				}
			}
		}
	}
	h.render(w, r, status, name, v)
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "Page not found", errorData{Message: "There is no file at this address."})
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// redirect answers 303 See Other, so that a form post is followed by a GET.
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// stepURL is the page of a sign-in step.
func stepURL(next string) string {
	switch next {
	case account.StepEnroll, account.StepEnrollOptional:
		return "/signin/enroll"
	case account.StepVerify:
		return "/signin/verify"
	case account.StepChangePassword:
		return "/signin/password"
	case account.StepDone:
		return "/profile"
	}
	return "/signin"
}

// parseForm reads a form body of at most MaxForm bytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errs.E(errs.TooLarge, "The form is larger than 64 KiB.")
		}
		return errs.E(errs.Invalid, "The form could not be read. Please go back and try again.")
	}
	return nil
}

func (h *Handler) token(r *http.Request) string { return cookie.Token(r) }

// setCookie sets the session cookie with the API's attributes; an empty token removes it.
func (h *Handler) setCookie(w http.ResponseWriter, token string) { cookie.Set(w, token, h.cookie) }

// setDeviceCookie sets the remembered-device cookie a second factor's step answered, if any
// (SPEC §10).
func (h *Handler) setDeviceCookie(w http.ResponseWriter, st account.Step) {
	if st.DeviceToken != "" {
		cookie.SetDevice(w, st.DeviceToken, st.DeviceMaxAge, h.cookie)
	}
}

// clientAddr answers the client address for the per-address limit.
func (h *Handler) clientAddr(r *http.Request) string {
	return clientaddr.Of(r, h.trusted)
}

// principal answers the finished session of the request.
func (h *Handler) principal(r *http.Request) (*account.Principal, error) {
	return h.svc.Authenticate(r.Context(), h.token(r))
}

// admin answers the administrator of the request; the service checks the role again.
func (h *Handler) admin(r *http.Request) (*account.Principal, account.Actor, error) {
	p, err := h.principal(r)
	if err != nil {
		return nil, account.Actor{}, err
	}
	a := p.Actor()
	if !a.Admin {
		return nil, account.Actor{}, errs.E(errs.Forbidden, "Only administrators may see this page.")
	}
	return p, a, nil
}

// notices are the fixed messages a redirect may ask a page to show (?m=KEY), so that no text
// from the address is echoed.
var notices = map[string]string{
	"signedout":  "You are signed out.",
	"expired":    "Your sign-in ended or expired. Please sign in again.",
	"password":   "Your password is changed.",
	"enrolled":   "Multi-factor authentication is set up for your account.",
	"saved":      "Saved. The change is in effect now on this server and within 5 seconds on every other server.",
	"unchanged":  "Nothing to save: no value was changed.",
	"created":    "The account is made. The \"Password Generated\" and \"New Password\" emails are sent.",
	"mfa-reset":  "MFA is reset. The account's sessions are ended; its next sign-in goes to enrolment.",
	"mfa-reset+": "MFA is reset and a new temporary password is emailed. The next sign-in goes to enrolment.",
	"unlocked":   "The account is unlocked and its failure counts are cleared.",
	"pw-reset":   "A new temporary password is emailed; the old password no longer works.",
	"disabled":   "The account is disabled and its sessions are ended.",
	"enabled":    "The account is enabled.",
	"groups":     "The account's groups are saved.",
	"signedin":   "You are signed in.",
	"client-rm":  "The application is removed; every token it held is revoked.",
	"rule-added": "The rule is added: it is in force on every server within 5 seconds.",
	"rule-moved": "The rule is moved: the new order is in force on every server within 5 seconds.",
	"rule-rm":    "The rule is removed: every server stops using it within 5 seconds.",
	"access-rm":  "The application's access is removed and you are signed out of it; it asks again next time.",
	"key-added":  "The security key is added. You can use it at your next sign-in.",
	"key-rm":     "The security key is removed; it no longer signs you in.",
	"device-rm":  "The device is forgotten: its next sign-in asks for your second factor.",
	"devices-rm": "Every remembered device is forgotten: their next sign-in asks for your second factor.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("m")] }

func withNotice(target, key string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + "m=" + url.QueryEscape(key)
}

// when formats a time for people, the one format of every page: UTC, to the minute.
func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if v == nil {
			return ""
		}
		return when(*v)
	}
	return ""
}

// lockEnds says when a lock ends, in words and by the service's clock: "in 15 minutes, at
// 22:40 UTC" (the date too when it is not today), or "until an administrator unlocks it" for a
// lock without an end (nil or zero).
func (h *Handler) lockEnds(t any) string {
	var until time.Time
	switch v := t.(type) {
	case time.Time:
		until = v
	case *time.Time:
		if v != nil {
			until = *v
		}
	}
	if until.IsZero() {
		return "until an administrator unlocks it"
	}
	now := h.svc.Now()
	mins := int((until.Sub(now) + time.Minute/2) / time.Minute) // the nearest minute
	in := fmt.Sprintf("in %d minutes", mins)
	switch {
	case mins <= 1:
		in = "in a minute"
	case mins >= 120:
		in = fmt.Sprintf("in about %d hours", (mins+30)/60)
	}
	at := when(until)
	if until.UTC().Format(time.DateOnly) == now.UTC().Format(time.DateOnly) {
		at = until.UTC().Format("15:04 UTC")
	}
	return in + ", at " + at
}

// message answers an error's message for a page: a lock is said in words ("Your second factor
// is locked. Try again in 15 minutes, at 22:40 UTC.") rather than with the machine time the
// API gives, and any other time as every page shows one.
func (h *Handler) message(e *errs.Error) string {
	subject := e.LockSubject
	if e.Code != errs.Locked || subject == "" {
		return e.Say(func(t time.Time) string { return when(t) })
	}
	if e.LockedUntil.IsZero() {
		return subject + " is locked " + h.lockEnds(nil) + "."
	}
	return subject + " is locked. Try again " + h.lockEnds(e.LockedUntil) + "."
}

// valueLabel names an option's value as the seeds do ("On (Required)").
func valueLabel(v string) string {
	switch v {
	case "off":
		return "Off"
	case "required":
		return "On (Required)"
	case "optional":
		return "On (Optional)"
	case "yes":
		return "Yes"
	case "no":
		return "No"
	}
	return v
}
