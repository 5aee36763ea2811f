package tomticket

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// callCustomer settles every field: customer/update (customer/new for a
// create the service does not know).
const callCustomer = "customer"

// PhoneMax is TomTicket's limit on phone numbers; other services take
// longer ones.
const PhoneMax = 20

// Service is TomTicket, as data.
var Service = &engine.Service{
	Name:    Name,
	Title:   "TomTicket",
	Example: "language",
	Keys: []engine.ServiceKey{
		{Field: "name", Shared: true, Type: engine.TypeString, NotNull: true, MinLen: 1, MaxLen: 250, Wire: "name", Call: callCustomer, Readable: true},
		{Field: "email", Shared: true, Type: engine.TypeEmail, MaxLen: 250, Wire: "email", Call: callCustomer, Readable: true},
		{Field: "phone", Shared: true, Type: engine.TypeString, MaxLen: PhoneMax, Wire: "phone", Call: callCustomer, Readable: true,
			LongDetail: "TomTicket keeps phone numbers of up to 20 characters"},
		// id_type says how the id is read: customer_type_id I or E.
		{Field: "id_type", Type: engine.TypeEnum, Enum: []string{"internal", "email"}, NotNull: true, Param: true, Addresses: true, Wire: "customer_type_id"},
		{Field: "internal_id", Type: engine.TypeString, Wire: "internal_id", Call: callCustomer, Readable: true},
		// A flag, 1 or 0: TomTicket takes an empty value as 1, so null
		// cannot clear it (the conformance suite found it).
		{Field: "create_tickets", Type: engine.TypeBool, NotNull: true, Wire: "create_tickets", Call: callCustomer, Readable: true},
		{Field: "organization_id", Type: engine.TypeString, MaxLen: 512, Wire: "organization_id", Call: callCustomer, Readable: true},
		{Field: "portfolio_id", Type: engine.TypeString, MaxLen: 512, Wire: "portfolio_id", Call: callCustomer, Readable: true},
		{Field: "language", Type: engine.TypeEnum, Enum: []string{"pt-BR", "es_ES", "en-US"}, Wire: "language", Call: callCustomer, Readable: true},
		{Field: "custom_fields", Type: engine.TypeString, Prefix: true, Wire: "custom_field[%s]", Call: callCustomer},
	},
	Rules: []engine.Rule{{
		Fields: []string{"id_type", "internal_id"},
		Check: func(id string, get func(string) (engine.Value, bool), bad func(string) bool) []engine.Problem {
			var out []engine.Problem
			idType, ok := get("id_type")
			byEmail := ok && idType.S == "email"
			if _, ok := get("internal_id"); ok && !byEmail && !bad("id_type") {
				out = append(out, engine.Problem{At: "internal_id", Summary: "only allowed with tomticket.id_type: email",
					Detail: "TomTicket keeps an internal_id only for customers identified by e-mail"})
			}
			if byEmail {
				if len(id) > 250 || !engine.ValidEmail(id) {
					out = append(out, engine.Problem{At: "id", Summary: "must be an e-mail address with tomticket.id_type: email",
						Detail: "TomTicket identifies these customers by their e-mail address"})
				}
				if e, ok := get("email"); ok && (e.IsNull() || !strings.EqualFold(e.S, id)) {
					out = append(out, engine.Problem{At: "email", Summary: fmt.Sprintf("must equal the id %q with tomticket.id_type: email", id),
						Detail: "TomTicket identifies the customer by the e-mail address in its id"})
				}
			}
			return out
		},
	}},
	CreateNeeds: []string{"name"},
	Defaults:    engine.ProviderConfig{RateLimit: 3, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: 30 * time.Second, OnRemove: engine.OnRemoveForget},
	// TomTicket allows 3 requests in any second: a token bucket would let
	// burst + rate through in one.
	Limiter:     engine.SlidingWindow,
	Credentials: []engine.Credential{{Var: EnvToken, Sandbox: SandboxToken}},
	BaseURLVar:  EnvBaseURL,

	DefaultBaseURL: DefaultBaseURL,
	New:            func(opts engine.ClientOptions) (engine.Provider, error) { return New(opts) },
	Sim: func(o engine.SimOptions) engine.Simulator {
		return &simulator{Sim: NewSim(SimOptions{NotFoundAs200: o.Alternate})}
	},
	SandboxPrefix: "/tomticket/v2.0",
	Fault: func(status int) any {
		return map[string]any{"error": true, "message": http.StatusText(status)}
	},
}

// simulator is the Sim as the sandbox serves it.
type simulator = simkit.Adapter[Snapshot, *Sim]

// SimOf returns the *Sim behind a simulator that Service.Sim built (the
// sandbox's), or nil.
func SimOf(s engine.Simulator) *Sim {
	if w, ok := s.(*simulator); ok {
		return w.Sim
	}
	return nil
}
