// Package httpapi serves Twofold's JSON API under /api/v1, with /healthz, /readyz and /metrics.
// Handlers parse, call the account service and render; every rule lives in the service. Errors
// are rendered in one place, as {"error": {"code", "message"}} with the status of their code.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/twofold-auth/twofold/internal/clientaddr"
	"github.com/twofold-auth/twofold/internal/cookie"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/provider"
)

// CookieName is the session cookie.
const CookieName = cookie.Name

// MaxBody is the largest request body accepted (SPEC §4: 413 above 64 KiB).
const MaxBody = 64 << 10

// Config holds what the API needs.
type Config struct {
	Service *account.Service
	Logger  *slog.Logger
	// Provider is the OpenID Connect provider, for the applications' routes; nil without one.
	Provider *provider.Provider
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SecureCookies adds Secure to the cookie, when the base URL is https.
	SecureCookies bool
	// CookieDomain, when set, is the cookie's Domain (--cookie-domain, SPEC §8).
	CookieDomain string
	// Ready reports whether the server can answer (the database answers).
	Ready func(context.Context) error
	// Registry receives the metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Access is where forward auth's rules come from (SPEC §8); nil: its endpoints answer 404.
	Access access.Source
	// BaseURL is where the pages are served: forward auth sends people to its /signin.
	BaseURL string
}

// API is the JSON API's handler.
type API struct {
	svc     *account.Service
	oidc    *provider.Provider
	log     *slog.Logger
	trusted []netip.Prefix
	cookie  cookie.Attrs
	ready   func(context.Context) error
	// pages show a browser the outcome of the identity provider's callback (Protect sets them).
	pages Pages
	// access is forward auth's rules (nil: none); baseURL has no trailing slash.
	access  access.Source
	baseURL string

	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// New makes the API and registers its routes on mux.
func New(c Config, mux *http.ServeMux) *API {
	reg := c.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a := &API{svc: c.Service, oidc: c.Provider, log: c.Logger, trusted: c.TrustedProxies, ready: c.Ready,
		cookie: cookie.Attrs{Secure: c.SecureCookies, Domain: c.CookieDomain},
		access: c.Access, baseURL: strings.TrimRight(c.BaseURL, "/"), decisions: newDecisionCounter(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twofold_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "twofold_http_request_duration_seconds",
			Help: "HTTP request duration by route.", Buckets: []float64{.00025, .0005, .001, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"route"}),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	reg.MustRegister(a.requests, a.duration, a.decisions)

	routes := []struct {
		pattern string
		h       handler
	}{
		{"POST /api/v1/signin", a.signIn},
		{"GET /api/v1/signin", a.signInState},
		{"POST /api/v1/signin/mfa/enroll", a.enroll},
		{"POST /api/v1/signin/mfa/enroll/verify", a.enrollVerify},
		{"POST /api/v1/signin/mfa/enroll/skip", a.enrollSkip},
		{"POST /api/v1/signin/mfa/verify", a.verify},
		{"POST /api/v1/signin/mfa/webauthn/begin", a.keySignInBegin},
		{"POST /api/v1/signin/mfa/webauthn/finish", a.keySignInFinish},
		{"POST /api/v1/signin/mfa/enroll/webauthn/begin", a.keyEnrollBegin},
		{"POST /api/v1/signin/mfa/enroll/webauthn/finish", a.keyEnrollFinish},
		{"POST /api/v1/signin/password", a.newPassword},
		{"POST /api/v1/signout", a.signOut},
		{"GET /api/v1/me", a.me},
		{"POST /api/v1/me/password", a.changePassword},
		{"POST /api/v1/me/mfa/enroll", a.meEnroll},
		{"POST /api/v1/me/mfa/enroll/verify", a.meEnrollVerify},
		{"POST /api/v1/me/mfa/backup-codes", a.regenerate},
		{"POST /api/v1/me/mfa/backup-codes/webauthn/begin", a.keyProofBegin},
		{"POST /api/v1/me/mfa/backup-codes/webauthn/finish", a.regenerateWithKey},
		{"GET /api/v1/me/webauthn", a.keys},
		{"POST /api/v1/me/webauthn/register/begin", a.keyRegisterBegin},
		{"POST /api/v1/me/webauthn/register/finish", a.keyRegisterFinish},
		{"POST /api/v1/me/webauthn/remove/begin", a.keyProofBegin},
		{"DELETE /api/v1/me/webauthn/{id}", a.keyRemove},
		{"GET /api/v1/me/devices", a.devices},
		{"DELETE /api/v1/me/devices/{id}", a.forgetDevice},
		{"DELETE /api/v1/me/devices", a.forgetDevices},
		{"GET /api/v1/admin/options", a.options},
		{"PUT /api/v1/admin/options/{key}", a.setOption},
		{"GET /api/v1/admin/users", a.users},
		{"POST /api/v1/admin/users", a.createUser},
		{"GET /api/v1/admin/users/{username}", a.user},
		{"POST /api/v1/admin/users/{username}/mfa/reset", a.resetMFA},
		{"POST /api/v1/admin/users/{username}/unlock", a.unlock},
		{"POST /api/v1/admin/users/{username}/password/reset", a.resetPassword},
		{"POST /api/v1/admin/users/{username}/disable", a.disable},
		{"POST /api/v1/admin/users/{username}/enable", a.enable},
		{"POST /api/v1/admin/users/{username}/groups", a.changeGroups},
		{"GET /api/v1/admin/audit", a.audit},
		{"GET /api/v1/admin/clients", a.clients},
		{"POST /api/v1/admin/clients", a.addClient},
		{"GET /api/v1/admin/clients/{id}", a.client},
		{"POST /api/v1/admin/clients/{id}/secret", a.rotateClientSecret},
		{"DELETE /api/v1/admin/clients/{id}", a.removeClient},
		{"GET " + ForwardAuthPath, a.forwardAuth},
		{"GET " + AuthRequestPath, a.authRequest},
		{"/api/", a.notFound},
	}
	for _, r := range routes {
		mux.Handle(r.pattern, a.wrap(r.pattern, r.h))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := a.ready(r.Context()); err != nil {
			a.log.WarnContext(r.Context(), "not ready", "err", err)
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return a
}

// handler is an API handler: it writes a success itself and returns any error for wrap to render.
type handler func(w http.ResponseWriter, r *http.Request) error

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (a *API) wrap(route string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		answerHeaders(sw.Header())
		if err := h(sw, r); err != nil {
			a.renderError(sw, r, err)
		}
		if sw.status == 0 {
			sw.WriteHeader(http.StatusNoContent)
		}
		a.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		a.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// answerHeaders sets what every answer of the API carries. Answers may carry secrets (keys,
// codes): none may be stored by a cache. They are JSON, never to be read as anything else
// (they hold text people wrote: names, a browser's user agent), nor shown in a frame.
func answerHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

type errorBody struct {
	Code        string     `json:"code"`
	Message     string     `json:"message"`
	Next        string     `json:"next,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	locked      bool
}

// MarshalJSON writes locked_until as null for a lock that only an admin ends.
func (e errorBody) MarshalJSON() ([]byte, error) {
	type plain errorBody
	if !e.locked {
		return json.Marshal(plain(e))
	}
	return json.Marshal(struct {
		plain
		LockedUntil *time.Time `json:"locked_until"`
	}{plain(e), e.LockedUntil})
}

func (a *API) renderError(w http.ResponseWriter, r *http.Request, err error) {
	e := errs.As(err)
	if e.Code == errs.Internal {
		a.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "err", err)
	}
	body := errorBody{Code: e.Code, Message: e.Message, Next: e.Next, locked: e.Code == errs.Locked}
	if !e.LockedUntil.IsZero() {
		t := e.LockedUntil.UTC()
		body.LockedUntil = &t
	}
	errs.SetRetryAfter(w.Header(), e, a.svc.Now)
	out := map[string]any{"error": body}
	if e.Next != "" {
		out["next"] = e.Next
	}
	writeJSON(w, errs.Status(e.Code), out)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // otpauth:// URIs keep their '&'
	return enc.Encode(v)
}

var errBodyTooLarge = errs.E(errs.TooLarge, "The request body is larger than 64 KiB.")

// decode reads a JSON object into v: Content-Type application/json, at most MaxBody bytes,
// no unknown fields, each field's name exactly as it is written and once (exactMembers),
// nothing after the object. A request with no body decodes as {} when
// allowEmpty.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	var first [1]byte
	n, err := io.ReadFull(body, first[:])
	var tooBig *http.MaxBytesError
	if n == 0 {
		switch {
		case errors.As(err, &tooBig):
			return errBodyTooLarge
		case allowEmpty:
			return nil
		default:
			return errs.E(errs.Invalid, "The request needs a JSON body.")
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errs.E(errs.Invalid, "Send the body as Content-Type: application/json.")
	}
	// The body is read whole first (it is at most MaxBody), so that anything but one object
	// (null, a list, a string) is refused rather than decoded as {}, and so is anything after
	// it.
	var buf bytes.Buffer
	buf.WriteByte(first[0])
	_, err = buf.ReadFrom(body)
	raw := buf.Bytes()
	if errors.As(err, &tooBig) {
		return errBodyTooLarge
	}
	if err == nil {
		if obj := bytes.TrimLeft(raw, jsonSpace); len(obj) == 0 || obj[0] != '{' {
			err = errors.New("not a JSON object")
		}
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil && len(bytes.TrimLeft(raw[dec.InputOffset():], jsonSpace)) > 0 {
			err = errors.New("data after the JSON object")
		}
	}
	if err == nil {
		err = exactMembers(raw, reflect.TypeOf(v))
	}
	if err != nil {
		return errs.E(errs.Invalid, "The request body is not valid: %s.", jsonProblem(err))
	}
	return nil
}

// jsonSpace is the white space JSON allows between values (RFC 8259 §2).
const jsonSpace = " \t\r\n"

// jsonProblem says what is wrong with a body without echoing its content.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var member badMember
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.As(err, &member):
		return string(member)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	default:
		return "it must be one JSON object"
	}
}

func (a *API) token(r *http.Request) string { return cookie.Token(r) }

func (a *API) setCookie(w http.ResponseWriter, token string) { cookie.Set(w, token, a.cookie) }

// deviceToken answers the remembered-device cookie the request carries (SPEC §10).
func (a *API) deviceToken(r *http.Request) string { return cookie.DeviceToken(r) }

// setDeviceCookie sets the remembered-device cookie for maxAge; an empty token removes it.
func (a *API) setDeviceCookie(w http.ResponseWriter, token string, maxAge time.Duration) {
	cookie.SetDevice(w, token, maxAge, a.cookie)
}

// clientAddr answers the client address for the per-address limit.
func (a *API) clientAddr(r *http.Request) string {
	return clientaddr.Of(r, a.trusted)
}

func (a *API) principal(r *http.Request) (*account.Principal, error) {
	return a.svc.Authenticate(r.Context(), a.token(r))
}

func (a *API) admin(r *http.Request) (account.Actor, error) {
	p, err := a.principal(r)
	if err != nil {
		return account.Actor{}, err
	}
	actor := p.Actor()
	if !actor.Admin {
		return account.Actor{}, errs.E(errs.Forbidden, "Only administrators may do this.")
	}
	return actor, nil
}

// Pages is what the API needs of the pages (web.Handler): they answer every request that is
// not the API's, refuse cross-origin form posts themselves, and show a browser the outcome of
// a sign-in through the identity provider, so that the API writes no HTML of its own.
type Pages interface {
	http.Handler
	SignInFailed(w http.ResponseWriter, r *http.Request, err error, signIn string)
}

// Protect joins the API and the pages (nil: none) into the server's handler, with cross-origin
// writes refused (http.CrossOriginProtection) once for each request: by the API, in its error
// shape, for its own paths; by the pages, which protect themselves wherever they are mounted,
// for theirs. Without pages, a refused request outside /api/ gets a plain 403.
func (a *API) Protect(next http.Handler, pages Pages) http.Handler {
	a.pages = pages
	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		answerHeaders(w.Header())
		a.renderError(w, r, errs.E(errs.Forbidden, "Cross-origin requests are refused."))
	}))
	api := protect.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pages != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) error {
	return errs.E(errs.NotFound, "There is no %s %s in this API.", r.Method, r.URL.Path)
}
