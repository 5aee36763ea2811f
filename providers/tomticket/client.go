package tomticket

import (
	"net/http"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names and defaults of the provider (SPEC 1).
const (
	Name           = "tomticket"
	DefaultBaseURL = "https://api.tomticket.com/v2.0"
	EnvToken       = "TOMTICKET_API_TOKEN"
	EnvBaseURL     = "TOMTICKET_BASE_URL"
)

// Call operations, as Call.Op names them. OpNew and OpRead are made by Do
// and Read only, never planned.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpNew    = "new"
	OpRead   = "read"
)

// Options configures a Client.
type Options = httpx.Options

// Client talks to the TomTicket API. It implements engine.Provider.
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

// Name returns "tomticket".
func (c *Client) Name() string { return Name }

// Paths of the requests.
const (
	pathUpdate = "/customer/update"
	pathNew    = "/customer/new"
)

// Calls plans the one call a change makes: POST /customer/update with only
// the changed fields (an update) or every managed field (a create). A
// create is listed by the request apply tries first: customer/new when the
// plan saw the customer missing (plan -refresh), customer/update otherwise;
// it may take a second (MayTakeTwo): customer/new after a not-found, or
// customer/update after an already-exists.
func (c *Client) Calls(ch *engine.Change) []engine.Call { return c.CallsIn(nil, ch) }

// CallsIn is Calls, planned in s (engine.CallBuilder).
func (c *Client) CallsIn(s *engine.CallSlab, ch *engine.Change) []engine.Call {
	call := engine.Call{Method: http.MethodPost, Path: pathUpdate}
	switch ch.Action {
	case engine.ActionCreate:
		call.Op = OpCreate
		call.MayTakeTwo = true
		if ch.Missing {
			call.Path = pathNew
		}
		if ch.Desired != nil {
			call.Fields = s.Names(len(ch.Desired.Fields))
			for _, f := range ch.Desired.Fields {
				call.Fields = append(call.Fields, f.Name)
			}
		}
	case engine.ActionUpdate:
		call.Op = OpUpdate
		call.Fields = ch.Changed()
	default:
		return nil
	}
	return append(s.Calls(1), call)
}

// idType returns the customer_type_id: "E" when the customer is identified
// by e-mail, else "I" (internal id, the default). The manifest's id_type
// wins over the one the state holds.
func idType(params, ids engine.Fields) string {
	v, ok := params.Get("id_type")
	if !ok || v.IsNull() {
		v, ok = ids.Get("id_type")
	}
	if ok && v.S == "email" {
		return "E"
	}
	return "I"
}

// formKey is the form field of a provider field, from the wire table:
// custom_fields.X is custom_field[X].
func formKey(name string) string {
	k := Service.Key(name)
	switch {
	case k == nil || k.Wire == "":
		return name
	case k.Prefix:
		return strings.Replace(k.Wire, "%s", name[len(k.Field)+1:], 1)
	}
	return k.Wire
}

// formValue renders a value for the form: cleared is empty, create_tickets
// is 1 or 0.
func formValue(name string, v engine.Value) string {
	switch {
	case v.IsNull():
		return ""
	case isBool(name):
		if v.S == "true" {
			return "1"
		}
		return "0"
	}
	return v.S
}

// isBool reports whether field name is a boolean, sent as 1 or 0.
func isBool(name string) bool {
	k := Service.Key(name)
	return k != nil && k.Type == engine.TypeBool
}
