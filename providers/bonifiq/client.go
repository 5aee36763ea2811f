package bonifiq

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names and defaults of the provider (SPEC 1).
const (
	Name           = "bonifiq"
	DefaultBaseURL = "https://api.bonifiq.com.br"
	EnvToken       = "BONIFIQ_API_TOKEN"
	EnvKey         = "BONIFIQ_API_KEY"
	EnvBaseURL     = "BONIFIQ_BASE_URL"
	// DefaultReason is the changestatus Reason when the manifest gives no
	// status_reason.
	DefaultReason = "Changed by reconcile"
)

// Call operations, as Call.Op names them.
const (
	OpUpsert       = "upsert"
	OpUpdate       = "update"
	OpChangeStatus = "changestatus"
	OpChangeTier   = "changetier"
	OpRead         = "read"
)

// callOf returns the call that settles field name (its wire table's Call).
func callOf(name string) string {
	if k := Service.Key(name); k != nil {
		return k.Call
	}
	return ""
}

// Options configures a Client.
type Options = httpx.Options

// Client talks to the BonifiQ private API. It implements engine.Provider.
type Client struct {
	httpx.Conn
}

// New returns a client. It needs no credentials (plans are offline); it fails
// only when the base URL is invalid.
func New(opts Options) (*Client, error) {
	conn, err := httpx.NewConn(Name, DefaultBaseURL, EnvBaseURL, httpx.Auth{Vars: []string{EnvToken, EnvKey}, Header: func(getenv func(string) string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(getenv(EnvToken)+":"+getenv(EnvKey)))
	}}, opts)
	if err != nil {
		return nil, err
	}
	return &Client{Conn: conn}, nil
}

// Name returns "bonifiq".
func (c *Client) Name() string { return Name }

// Calls plans the requests for ch (SPEC 3.2): a create is an upsert, then
// changestatus when enabled is managed and false (a new customer is enabled,
// so enabled: true rides on the upsert), then changetier when the tier is; an
// update makes the calls whose fields changed; a disable is a changestatus.
func (c *Client) Calls(ch *engine.Change) []engine.Call { return c.CallsIn(nil, ch) }

// CallsIn is Calls, planned in s (engine.CallBuilder).
func (c *Client) CallsIn(s *engine.CallSlab, ch *engine.Change) []engine.Call {
	var desired engine.Fields
	if ch.Desired != nil {
		desired = ch.Desired.Fields
	}
	// Plans hold millions of changes: one backing array for the calls'
	// field names (with room for the "enabled" a create's upsert may
	// settle), each path made in one piece when it is needed, and the
	// calls copied out at their number, all in s.
	names := s.Names(len(desired) + 1)
	fieldsOf := func(call string) []string {
		start := len(names)
		names = s.FieldsOf(Service, names, call, desired)
		return names[start:len(names):len(names)]
	}
	profileFields := func() []string { return fieldsOf(callProfile) }
	tierFields := func() []string { return fieldsOf(callTier) }
	id := url.PathEscape(ch.ID)
	status := func() engine.Call {
		return engine.Call{Method: http.MethodPost, Path: s.Concat("/v1/pvt/Customer/", id, "/changestatus"), Op: OpChangeStatus, Fields: enabledField}
	}
	tier := func(fields []string) engine.Call {
		return engine.Call{Method: http.MethodPost, Path: s.Concat("/v1/pvt/Customer/", id, "/changetier"), Op: OpChangeTier, Fields: fields}
	}

	var buf [3]engine.Call
	calls := buf[:0]
	switch {
	case ch.Action == engine.ActionCreate && c.SkipMissing:
		// on_missing: skip: update the customer if BonifiQ has it (a PUT
		// answered "not found" skips it), never create it.
		calls = append(calls, engine.Call{Method: http.MethodPut, Path: s.Concat("/v1/pvt/Customer/", id), Op: OpUpdate, Fields: profileFields()})
		if _, ok := desired.Get("enabled"); ok {
			calls = append(calls, status())
		}
		if tf := tierFields(); len(tf) > 0 {
			calls = append(calls, tier(tf))
		}
	case ch.Action == engine.ActionCreate:
		start := len(names)
		names = s.FieldsOf(Service, names, callProfile, desired)
		upsert := engine.Call{Method: http.MethodPost, Path: "/v1/pvt/Customer/upsert", Op: OpUpsert}
		if v, ok := desired.Get("enabled"); ok && v.S == "true" {
			// A new customer is enabled: the upsert settles it, and sends a
			// changestatus only when its answer does not say it created the
			// customer (Do).
			names = append(names, "enabled")
			upsert.Fields = names[start:len(names):len(names)]
			upsert.MayTakeTwo = true
			calls = append(calls, upsert)
		} else {
			upsert.Fields = names[start:len(names):len(names)]
			calls = append(calls, upsert)
			if ok {
				calls = append(calls, status())
			}
		}
		if tf := tierFields(); len(tf) > 0 {
			calls = append(calls, tier(tf))
		}
	case ch.Action == engine.ActionUpdate:
		if changes(ch, callProfile) {
			calls = append(calls, engine.Call{Method: http.MethodPut, Path: s.Concat("/v1/pvt/Customer/", id), Op: OpUpdate, Fields: profileFields()})
		}
		if changes(ch, callStatus) {
			calls = append(calls, status())
		}
		if changes(ch, callTier) {
			calls = append(calls, tier(tierFields()))
		}
	case ch.Action == engine.ActionDisable:
		calls = append(calls, status())
	}
	if len(calls) == 0 {
		return nil
	}
	return append(s.Calls(len(calls)), calls...)
}

// enabledField is what a changestatus settles; shared, never modified.
var enabledField = []string{"enabled"}

// changes reports whether any of ch's changing fields is settled by call.
func changes(ch *engine.Change, call string) bool {
	for _, f := range ch.FieldChanges() {
		if callOf(f.Name) == call {
			return true
		}
	}
	return false
}
