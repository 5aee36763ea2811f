package invisiblecollector

import (
	"net/http"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// callCustomer settles every field: PUT /customers/{id} (POST on a create
// the service does not know) carries the whole customer.
const callCustomer = "customer"

// Service is InvisibleCollector, as data.
var Service = &engine.Service{
	Name:    Name,
	Title:   "InvisibleCollector",
	Example: "country",
	Keys: []engine.ServiceKey{
		{Field: "name", Shared: true, Type: engine.TypeString, NotNull: true, MinLen: 1, MaxLen: 250, Wire: "name", Call: callCustomer, Readable: true},
		{Field: "email", Shared: true, Type: engine.TypeEmail, MaxLen: 250, Wire: "email", Call: callCustomer, Readable: true},
		{Field: "phone", Shared: true, Type: engine.TypeString, Wire: "phone", Call: callCustomer, Readable: true},
		// gid addresses the customer (the path id); it is never sent in a body.
		{Field: "gid", Type: engine.TypeString, Param: true, Addresses: true},
		{Field: "vat_number", Type: engine.TypeString, Wire: "vatNumber", Call: callCustomer, Readable: true},
		{Field: "address", Type: engine.TypeString, Wire: "address", Call: callCustomer, Readable: true},
		{Field: "zip_code", Type: engine.TypeString, Wire: "zipCode", Call: callCustomer, Readable: true},
		{Field: "city", Type: engine.TypeString, Wire: "city", Call: callCustomer, Readable: true},
		{Field: "country", Type: engine.TypeCountry, NotNull: true, Wire: "country", Call: callCustomer, Readable: true},
		{Field: "locale", Type: engine.TypeEnum, Enum: []string{"pt", "es", "en", "fr-fr", "de", "zh-CN"}, Wire: "locale", Call: callCustomer, Readable: true},
	},
	Rules: []engine.Rule{{
		Check: func(_ string, get func(string) (engine.Value, bool), bad func(string) bool) []engine.Problem {
			if _, ok := get("country"); ok || bad("country") {
				return nil
			}
			return []engine.Problem{{At: "country", Summary: "required when the customer is managed in invisiblecollector",
				Detail: "InvisibleCollector needs the country on every create and update"}}
		},
	}},
	AnswersCarryRecord: true,
	CreateNeeds:        []string{"name", "vat_number", "country"},
	Defaults:           engine.ProviderConfig{RateLimit: 5, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: 30 * time.Second, OnRemove: engine.OnRemoveForget},
	Limiter:            engine.TokenBucket,
	Credentials:        []engine.Credential{{Var: EnvToken, Sandbox: SandboxToken}},
	BaseURLVar:         EnvBaseURL,

	DefaultBaseURL: DefaultBaseURL,
	New:            func(opts engine.ClientOptions) (engine.Provider, error) { return New(opts) },
	Sim: func(o engine.SimOptions) engine.Simulator {
		return &simulator{Sim: NewSim(SimOptions{Seed: o.Seed})}
	},
	SandboxPrefix: "/invisiblecollector",
	Fault: func(status int) any {
		return map[string]any{"code": status, "message": http.StatusText(status)}
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
