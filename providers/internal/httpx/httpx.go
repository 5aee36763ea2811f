// Package httpx holds what the three provider clients share: base URL
// resolution and checking, path joining, the default HTTP client, and the
// classification of failures into *engine.CallError.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
)

// MaxBody bounds how much of an answer a client reads: customer records are
// small, and a runaway body must not exhaust memory.
const MaxBody = 4 << 20

// Getenv returns getenv, or os.Getenv when it is nil.
func Getenv(getenv func(string) string) func(string) string {
	if getenv == nil {
		return os.Getenv
	}
	return getenv
}

// ResolveBaseURL picks the base URL by precedence (the environment, then the
// manifest, then the default) and checks it.
func ResolveBaseURL(def, configured, env string) (*url.URL, error) {
	raw := def
	if configured != "" {
		raw = configured
	}
	if env != "" {
		raw = env
	}
	return CheckBaseURL(raw)
}

// CheckBaseURL parses raw and checks that it is https, or http on a
// loopback host, with no query, fragment or user info (credentials come only
// from the environment variables).
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL %q: %w", raw, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid base URL %q: it needs a scheme and a host, like https://api.example.com", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("invalid base URL %q: credentials belong in the environment, not in the URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid base URL %q: it cannot carry a query or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("invalid base URL %q: http:// is allowed only on a loopback host (127.0.0.1, ::1, localhost); use https://", raw)
		}
	default:
		return nil, fmt.Errorf("invalid base URL %q: the scheme must be https", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL appends path (which starts with "/" and is already escaped) to base
// with a single slash between them, and adds query.
func URL(base *url.URL, path string, query url.Values) string {
	var b strings.Builder
	b.WriteString(base.Scheme)
	b.WriteString("://")
	b.WriteString(base.Host)
	b.WriteString(strings.TrimRight(base.EscapedPath(), "/"))
	b.WriteString("/")
	b.WriteString(strings.TrimLeft(path, "/"))
	if len(query) > 0 {
		b.WriteString("?")
		b.WriteString(query.Encode())
	}
	return b.String()
}

// NewClient returns the HTTP client used when the caller gives none: its
// own transport with bounded dial, TLS and header waits, and no overall
// timeout (each call has its own, from the provider's settings).
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t, CheckRedirect: refuseRedirects}
}

// refuseRedirects keeps a client from following any redirect: these APIs
// do not redirect, and a redirect is where credentials leak (https to
// http, or to another port of the same host, which Go's own check lets
// through). The 3xx comes back as the answer, and Send fails the call
// naming its Location.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RetryAfter parses a Retry-After header, in seconds or as an HTTP date,
// into a wait; 0 when absent or unreadable.
func RetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 24*3600 {
			n = 24 * 3600
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Call identifies the call being made, for errors.
type Call struct {
	Provider string
	Op       string
	ID       string
}

// StatusError classifies an answer with an error status (or a 2xx whose body
// reports a failure): 429 and 5xx are retryable, 401 and 403 fatal, other
// statuses are a failure of this customer only.
func (c Call) StatusError(resp *http.Response, message string) *engine.CallError {
	e := &engine.CallError{Provider: c.Provider, Op: c.Op, ID: c.ID, Status: resp.StatusCode, Message: message}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Retryable = true
		e.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Fatal = true
	}
	return e
}

// Failure is a call that got an answer the client cannot accept (a 2xx whose
// body reports an error, or is unreadable): not retryable.
func (c Call) Failure(status int, message string, err error) *engine.CallError {
	return &engine.CallError{Provider: c.Provider, Op: c.Op, ID: c.ID, Status: status, Message: message, Err: err}
}

// ErrTimeout is the cause of a call's own per-request timeout. It is a
// context.DeadlineExceeded.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string        { return "request timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// TransportError classifies an error from sending a request or reading its
// answer. A cancelled parent context is returned wrapped, not retryable; a
// deadline (the call's own timeout or the caller's) and every network
// failure are retryable.
func (c Call) TransportError(parent context.Context, status int, err error) error {
	if errors.Is(parent.Err(), context.Canceled) {
		return fmt.Errorf("%s: %s %s: %w", c.Provider, c.Op, c.ID, parent.Err())
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// The URL is ours and carries no credential, but the message is
		// clearer without it repeated.
		err = fmt.Errorf("%s %s: %w", uerr.Op, redact(uerr.URL), uerr.Err)
	}
	return &engine.CallError{Provider: c.Provider, Op: c.Op, ID: c.ID, Status: status, Retryable: true, Unreachable: status == 0 && unreachable(err), Err: err}
}

// unreachable reports whether err says the request could not be sent at
// all: the connection was refused (nothing listens there) or the host does
// not exist. A dropped or reset connection is not: it is retried.
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "request"
	}
	return u.Redacted()
}

// WithTimeout bounds one call by d (none when d <= 0), with ErrTimeout as the
// cause.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, ErrTimeout)
}

// Send makes req with hc and reads the whole answer (bounded by MaxBody).
// Errors are classified with TransportError against parent.
func (c Call) Send(parent context.Context, hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, c.TransportError(parent, 0, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if u, err := url.Parse(loc); err == nil {
			loc = u.Redacted()
		}
		return nil, nil, c.Failure(resp.StatusCode, fmt.Sprintf("the service redirected to %q; these APIs do not redirect, so it was not followed (check the base URL)", loc), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, nil, c.TransportError(parent, resp.StatusCode, fmt.Errorf("reading the answer: %w", err))
	}
	return resp, body, nil
}

// Snippet returns the start of a non-JSON body, on one line, for messages.
func Snippet(body []byte) string {
	const max = 120
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}

// UserAgent is sent with every request.
const UserAgent = "reconcile (+https://github.com/reconcile-dev/reconcile)"

// MissingCredentials returns the error Ready gives when any of vars is unset,
// naming all of them, or nil.
func MissingCredentials(provider string, getenv func(string) string, vars ...string) error {
	var missing []string
	for _, v := range vars {
		if getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s: credentials missing: set %s", provider, strings.Join(missing, " and "))
}

// Options configures a provider's client.
type Options = engine.ClientOptions

// Auth says how a provider authenticates: the environment variables it
// needs, and the Authorization header value they make.
type Auth struct {
	Vars   []string
	Header func(getenv func(string) string) string
}

// Conn is what every provider's client holds alike: where requests go, how
// they authenticate, and the HTTP client. The Authorization value is never
// logged or returned.
type Conn struct {
	base    *url.URL
	auth    string
	missing error
	refused error // a manifest's base URL the operator did not allow
	// hc makes the requests: only through Send, which admits each one
	// through the apply's gate.
	hc *http.Client
	// Timeout bounds each request (0: none).
	Timeout time.Duration
	// Creates says how this client's creates turned out so far, to choose
	// the first request of the next (see Creates).
	Creates *Creates
	// SkipMissing is on_missing: skip: a create that finds no customer
	// creates nothing and fails with engine.ErrSkipped.
	SkipMissing bool
}

// Creates counts, for one client (so for one service in one apply), the
// creates that found no customer (new) and those that found one (existed).
// A create whose customer's existence is unknown is tried as an update
// first, unless most creates so far were new customers: a bulk migration
// into an empty service then spends one request per customer, not two.
type Creates struct {
	created, existed atomic.Int64
}

// NewFirst reports whether the next create should try the service's
// create request first.
func (c *Creates) NewFirst() bool { return c.created.Load() > c.existed.Load() }

// New counts a create that found no customer.
func (c *Creates) New() { c.created.Add(1) }

// Existed counts a create that found the customer.
func (c *Creates) Existed() { c.existed.Add(1) }

// AllowVar is the environment variable in which the operator lists the
// base URLs a manifest's base_url may name (space- or comma-separated).
const AllowVar = "RECONCILE_ALLOW_BASE_URLS"

// NewConn resolves the base URL (default < manifest < environment variable
// envBaseURL) and reads the credentials. It needs none (plans are offline):
// Ready reports them missing. It fails only when the base URL is invalid.
//
// Credentials go only where the operator points them: to the service's
// default host, to the URL in envBaseURL, or to a manifest's base_url that
// the operator listed in RECONCILE_ALLOW_BASE_URLS (same scheme, host, port
// and path). A manifest that names any other URL (a loopback one included)
// gets a client that refuses to send: Ready says which URL and how to
// allow it, before any request.
func NewConn(provider, defaultBase, envBaseURL string, auth Auth, opts Options) (Conn, error) {
	getenv := Getenv(opts.Getenv)
	base, err := ResolveBaseURL(defaultBase, opts.Config.BaseURL, getenv(envBaseURL))
	if err != nil {
		return Conn{}, fmt.Errorf("%s: %w", provider, err)
	}
	c := Conn{base: base, hc: opts.HTTPClient, Timeout: opts.Config.Timeout, Creates: &Creates{}, SkipMissing: opts.Config.OnMissing == engine.OnMissingSkip}
	if getenv(envBaseURL) == "" && opts.Config.BaseURL != "" && !allowed(base, getenv(AllowVar)) {
		c.refused = fmt.Errorf("%s: the manifests send it to base_url %s, which the operator has not allowed: credentials go only to %s, "+
			"to a URL set in %s, or to one listed in %s (export %s=%s to allow it); nothing was sent",
			provider, Origin(base), defaultBase, envBaseURL, AllowVar, AllowVar, base.String())
	}
	if c.hc == nil {
		c.hc = NewClient()
	} else {
		// A caller's client too never follows a redirect.
		hc := *c.hc
		hc.CheckRedirect = refuseRedirects
		c.hc = &hc
	}
	c.missing = MissingCredentials(provider, getenv, auth.Vars...)
	if c.missing == nil {
		c.auth = auth.Header(getenv)
	}
	return c, nil
}

// BaseURL returns the base URL requests go to.
func (c *Conn) BaseURL() string { return c.base.String() }

// Ready reports a base URL the operator did not allow, and missing
// credentials.
func (c *Conn) Ready() error {
	if c.refused != nil {
		return c.refused
	}
	return c.missing
}

// Request builds an authenticated request to path (with query q) under the
// base URL, with body of contentType ("" for none).
func (c *Conn) Request(ctx context.Context, method, path string, q url.Values, body []byte, contentType string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, URL(c.base, path, q), rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Authorization", c.auth)
	return req, nil
}

// Send makes one request to path (with query q and body of contentType, ""
// for none) and reads its answer. It is the only way a provider sends: the
// request first waits for its admission through the apply's gate
// (engine.Admit: a -parallelism slot, then a rate-limit token), and its
// timeout starts only once it is admitted, so waiting for a slot never
// counts against the request. An admission that fails (the apply stopped,
// the context ended) is returned as it is, with nothing sent.
func (c *Conn) Send(ctx context.Context, id Call, method, path string, q url.Values, body []byte, contentType string) (*http.Response, []byte, error) {
	if c.refused != nil {
		return nil, nil, &engine.CallError{Provider: id.Provider, Op: id.Op, ID: id.ID, Fatal: true, Message: c.refused.Error()}
	}
	release, err := engine.Admit(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	rctx, cancel := WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := c.Request(rctx, method, path, q, body, contentType)
	if err != nil {
		return nil, nil, id.Failure(0, "", err)
	}
	return id.Send(ctx, c.hc, req)
}

// Origin renders u as engine.Origin does.
func Origin(u *url.URL) string { return engine.Origin(u) }

// allowed reports whether base is one of the URLs in list.
func allowed(base *url.URL, list string) bool {
	want := Origin(base)
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		u, err := url.Parse(strings.TrimSpace(item))
		if err == nil && u.Host != "" && Origin(u) == want {
			return true
		}
	}
	return false
}
