package invisiblecollector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names and defaults of the provider (SPEC 1).
const (
	Name           = engine.InvisibleCollector
	DefaultBaseURL = "https://api.invisiblecollector.com"
	EnvToken       = "INVISIBLECOLLECTOR_API_TOKEN"
	EnvBaseURL     = "INVISIBLECOLLECTOR_BASE_URL"
)

// Call operations, as Call.Op names them. OpPost, OpFind and OpRead are
// made by Do and Read only, never planned.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpPost   = "post"
	OpRead   = "read"
)

// Options configures a Client.
type Options struct {
	// Config is the provider's settings; BaseURL and Timeout are used here.
	Config engine.ProviderConfig
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient makes the requests; nil means a default client.
	HTTPClient *http.Client
}

// Client talks to the InvisibleCollector API. It implements engine.Provider.
type Client struct {
	base    *url.URL
	auth    string // the Authorization header value, never logged or returned
	missing error
	hc      *http.Client
	timeout time.Duration
}

// New returns a client. It needs no credentials (plans are offline); it fails
// only when the base URL is invalid.
func New(opts Options) (*Client, error) {
	getenv := httpx.Getenv(opts.Getenv)
	base, err := httpx.ResolveBaseURL(DefaultBaseURL, opts.Config.BaseURL, getenv(EnvBaseURL))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	c := &Client{base: base, hc: opts.HTTPClient, timeout: opts.Config.Timeout}
	if c.hc == nil {
		c.hc = httpx.NewClient()
	}
	c.missing = httpx.MissingCredentials(Name, getenv, EnvToken)
	if c.missing == nil {
		c.auth = "Bearer " + getenv(EnvToken)
	}
	return c, nil
}

// Name returns "invisiblecollector".
func (c *Client) Name() string { return Name }

// BaseURL returns the base URL requests go to.
func (c *Client) BaseURL() string { return c.base.String() }

// Ready reports missing credentials.
func (c *Client) Ready() error { return c.missing }

// Calls plans the one request a create or an update makes: PUT
// /customers/{gid or id} with every managed field. A create's fallback
// (POST /customers on a 404) is not listed.
func (c *Client) Calls(ch *engine.Change) []engine.Call {
	if ch.Action != engine.ActionCreate && ch.Action != engine.ActionUpdate {
		return nil
	}
	call := engine.Call{Method: http.MethodPut, Path: "/customers/" + url.PathEscape(pathID(ch)), Op: OpUpdate}
	if ch.Action == engine.ActionCreate {
		call.Op = OpCreate
	}
	if ch.Desired != nil {
		for _, f := range ch.Desired.Fields {
			call.Fields = append(call.Fields, f.Name)
		}
	}
	return []engine.Call{call}
}

// pathID is the id a change addresses the customer by: the manifest's gid,
// else the gid the state holds, else the customer's own id (the service
// finds a customer by its externalId too).
func pathID(ch *engine.Change) string {
	var params engine.Fields
	if ch.Desired != nil {
		params = ch.Desired.Params
	}
	return resolveID(ch.ID, params, ch.IDs)
}

func resolveID(id string, params, ids engine.Fields) string {
	if v, ok := params.Get("gid"); ok && !v.IsNull() && v.S != "" {
		return v.S
	}
	if v, ok := ids.Get("gid"); ok && !v.IsNull() && v.S != "" {
		return v.S
	}
	return id
}

// request builds an authenticated request to path under the base URL.
func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, httpx.URL(c.base, path, nil), bytes.NewReader(body))
	} else {
		req, err = http.NewRequestWithContext(ctx, method, httpx.URL(c.base, path, nil), nil)
	}
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent)
	req.Header.Set("Authorization", c.auth)
	return req, nil
}
