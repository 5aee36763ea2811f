package invisiblecollector

import (
	"net/http"
	"net/url"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names and defaults of the provider (SPEC 1).
const (
	Name           = "invisiblecollector"
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
type Options = httpx.Options

// Client talks to the InvisibleCollector API. It implements engine.Provider.
type Client struct {
	httpx.Conn
}

// New returns a client. It needs no credentials (plans are offline); it fails
// only when the base URL is invalid.
func New(opts Options) (*Client, error) {
	conn, err := httpx.NewConn(Name, DefaultBaseURL, EnvBaseURL, httpx.Auth{Vars: []string{EnvToken}, Header: func(getenv func(string) string) string { return "Bearer " + getenv(EnvToken) }}, opts)
	if err != nil {
		return nil, err
	}
	return &Client{Conn: conn}, nil
}

// Name returns "invisiblecollector".
func (c *Client) Name() string { return Name }

// Calls plans the one request a create or an update makes: PUT
// /customers/{gid or id} with every managed field. A create's fallback
// (POST /customers on a 404) is not listed.
func (c *Client) Calls(ch *engine.Change) []engine.Call { return c.CallsIn(nil, ch) }

// CallsIn is Calls, planned in s (engine.CallBuilder).
func (c *Client) CallsIn(s *engine.CallSlab, ch *engine.Change) []engine.Call {
	if ch.Action != engine.ActionCreate && ch.Action != engine.ActionUpdate {
		return nil
	}
	call := engine.Call{Method: http.MethodPut, Path: s.Concat("/customers/", url.PathEscape(pathID(ch))), Op: OpUpdate}
	if ch.Action == engine.ActionCreate {
		// A create is listed by the request apply tries first (POST when a
		// read saw the customer missing), and may take a second.
		call.Op, call.MayTakeTwo = OpCreate, true
		if ch.Missing {
			call.Method, call.Path = http.MethodPost, "/customers"
		}
	}
	if ch.Desired != nil {
		call.Fields = s.Names(len(ch.Desired.Fields))
		for _, f := range ch.Desired.Fields {
			call.Fields = append(call.Fields, f.Name)
		}
	}
	return append(s.Calls(1), call)
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
