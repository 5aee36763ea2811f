package bonifiq

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// Calls that settle fields (ServiceKey.Call).
const (
	callProfile = "profile" // upsert on a create, PUT on an update
	callStatus  = OpChangeStatus
	callTier    = OpChangeTier
)

// Service is BonifiQ, as data: its wire table and everything else the
// engine, the manifest loader, the sandbox and the CLI need to know.
var Service = &engine.Service{
	Name:    Name,
	Title:   "BonifiQ",
	Example: "enrolled",
	Keys: []engine.ServiceKey{
		{Field: "name", Shared: true, Type: engine.TypeString, NotNull: true, MinLen: 1, MaxLen: 250, Wire: "Name", Call: callProfile, Readable: true},
		{Field: "email", Shared: true, Type: engine.TypeEmail, MaxLen: 250, Wire: "Email", Call: callProfile, Readable: true},
		{Field: "phone", Shared: true, Type: engine.TypeString, Wire: "Phone", Call: callProfile, Readable: true},
		{Field: "document", Shared: true, Type: engine.TypeString, Wire: "Document", Call: callProfile, Readable: true},
		{Field: "enrolled", Type: engine.TypeBool, NotNull: true, Wire: "IsEnrolled", Call: callProfile, Readable: true},
		{Field: "birthday", Type: engine.TypeDate, Wire: "BirthdayDate", Call: callProfile, Readable: true},
		{Field: "signup_date", Type: engine.TypeTime, Wire: "SignupDate", Call: callProfile, Readable: true},
		// The read shows neither the enabled flag nor the tier's id.
		{Field: "enabled", Type: engine.TypeBool, NotNull: true, Wire: "IsEnabled", Call: callStatus},
		{Field: "status_reason", Type: engine.TypeString, Param: true, Wire: "Reason", Call: callStatus},
		{Field: "tier.id", Type: engine.TypeInt, NotNull: true, Min: 1, Max: engine.MaxInt32, Wire: "TierId", Call: callTier,
			ResendNoun: "tier", ResendEffect: "a changetier restarts the customer's grace period."},
		{Field: "tier.grace_period_days", Type: engine.TypeInt, Min: 0, Max: engine.MaxInt32, Wire: "GracePeriodInDays", Call: callTier},
		{Field: "tier.comments", Type: engine.TypeString, Wire: "GracePeriodComments", Call: callTier},
	},
	Rules: []engine.Rule{{
		Fields: []string{"tier.comments", "tier.grace_period_days"},
		Check: func(_ string, get func(string) (engine.Value, bool), bad func(string) bool) []engine.Problem {
			if _, ok := get("tier.id"); ok || bad("tier.id") {
				return nil
			}
			for _, f := range []string{"tier.comments", "tier.grace_period_days"} {
				if _, ok := get(f); ok {
					return []engine.Problem{{At: f, Label: "tier.id", Summary: "required when other tier keys are set",
						Detail: "changing the tier's grace period or comments needs the tier's id"}}
				}
			}
			return nil
		},
	}},
	AnswersCarryRecord: true,
	CreateNeeds:        []string{"name"},
	Disable:            &engine.Field{Name: "enabled", Value: engine.Bool(false)},
	Defaults:           engine.ProviderConfig{RateLimit: 5, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: 30 * time.Second, OnRemove: engine.OnRemoveForget},
	Limiter:            engine.TokenBucket,
	Credentials:        []engine.Credential{{Var: EnvToken, Sandbox: SandboxToken}, {Var: EnvKey, Sandbox: SandboxKey}},
	BaseURLVar:         EnvBaseURL,
	// The private API's root; the sandbox serves it under /bonifiq.
	DefaultBaseURL: DefaultBaseURL,
	SecretForms: func(getenv func(string) string) []string {
		tok, key := getenv(EnvToken), getenv(EnvKey)
		if tok == "" || key == "" {
			return nil
		}
		return []string{base64.StdEncoding.EncodeToString([]byte(tok + ":" + key))}
	},
	New: func(opts engine.ClientOptions) (engine.Provider, error) { return New(opts) },
	Sim: func(o engine.SimOptions) engine.Simulator {
		return &simulator{Sim: NewSim(SimOptions{NotFoundAs200: o.Alternate})}
	},
	SandboxPrefix: "/bonifiq",
	Fault: func(status int) any {
		return map[string]any{"ErrorMessage": http.StatusText(status), "ErrorCode": status, "Result": nil, "HasError": true, "Severity": 2}
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
