package bonifiq

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names and defaults of the provider (SPEC 1).
const (
	Name           = engine.BonifiQ
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

// profileFields are the fields PUT and upsert carry, in the order of the
// provider's field names.
var profileFields = []string{"birthday", "document", "email", "enrolled", "name", "phone", "signup_date"}

func isProfile(name string) bool { return slices.Contains(profileFields, name) }
func isStatus(name string) bool  { return name == "enabled" }
func isTier(name string) bool    { return strings.HasPrefix(name, "tier.") }

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
// changestatus when enabled is managed, then changetier when the tier is; an
// update makes the calls whose fields changed; a disable is a changestatus.
func (c *Client) Calls(ch *engine.Change) []engine.Call {
	var desired engine.Fields
	if ch.Desired != nil {
		desired = ch.Desired.Fields
	}
	// Plans hold hundreds of thousands of changes: one backing array for
	// the calls and one for their field names.
	names := make([]string, 0, len(desired))
	profileFields := func() []string {
		start := len(names)
		for _, f := range desired {
			if isProfile(f.Name) {
				names = append(names, f.Name)
			}
		}
		return names[start:len(names):len(names)]
	}
	tierFields := func() []string {
		start := len(names)
		for _, f := range desired {
			if isTier(f.Name) {
				names = append(names, f.Name)
			}
		}
		return names[start:len(names):len(names)]
	}
	customer := "/v1/pvt/Customer/" + url.PathEscape(ch.ID)
	status := func() engine.Call {
		return engine.Call{Method: http.MethodPost, Path: customer + "/changestatus", Op: OpChangeStatus, Fields: enabledField}
	}
	tier := func(fields []string) engine.Call {
		return engine.Call{Method: http.MethodPost, Path: customer + "/changetier", Op: OpChangeTier, Fields: fields}
	}

	calls := make([]engine.Call, 0, 3)
	switch ch.Action {
	case engine.ActionCreate:
		calls = append(calls, engine.Call{Method: http.MethodPost, Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: profileFields()})
		if _, ok := desired.Get("enabled"); ok {
			calls = append(calls, status())
		}
		if tf := tierFields(); len(tf) > 0 {
			calls = append(calls, tier(tf))
		}
	case engine.ActionUpdate:
		if changes(ch, isProfile) {
			calls = append(calls, engine.Call{Method: http.MethodPut, Path: customer, Op: OpUpdate, Fields: profileFields()})
		}
		if changes(ch, isStatus) {
			calls = append(calls, status())
		}
		if changes(ch, isTier) {
			calls = append(calls, tier(tierFields()))
		}
	case engine.ActionDisable:
		calls = append(calls, status())
	}
	if len(calls) == 0 {
		return nil
	}
	return calls
}

// enabledField is what a changestatus settles; shared, never modified.
var enabledField = []string{"enabled"}

// managed lists the names of the desired fields that match.
func managed(fs engine.Fields, match func(string) bool) []string {
	var names []string
	for _, f := range fs {
		if match(f.Name) {
			names = append(names, f.Name)
		}
	}
	return names
}

func changes(ch *engine.Change, match func(string) bool) bool {
	for _, f := range ch.FieldChanges() {
		if match(f.Name) {
			return true
		}
	}
	return false
}

// opOf returns the call's operation, inferring it from the path when the
// call was decoded from a saved plan (which does not carry Op).
func opOf(call engine.Call) string {
	if call.Op != "" {
		return call.Op
	}
	switch {
	case call.Method == http.MethodPost && strings.HasSuffix(call.Path, "/upsert"):
		return OpUpsert
	case strings.HasSuffix(call.Path, "/changestatus"):
		return OpChangeStatus
	case strings.HasSuffix(call.Path, "/changetier"):
		return OpChangeTier
	}
	return OpUpdate
}
