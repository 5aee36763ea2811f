package engine

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Service is everything one service means, declared as data by its package
// under providers/: its keys and how each reaches the wire, what a create
// needs, what it does with customers that leave the manifests, its default
// limits, its variables, and how to build its client and its simulator.
// The engine, the manifest loader, the sandbox and the CLI read it through a
// Registry and know no service by name.
type Service struct {
	// Name is the service's name in manifests, addresses and the state:
	// "bonifiq". Lower case letters and digits.
	Name string
	// Title is how messages and help texts name it: "BonifiQ".
	Title string
	// Keys is the wire table: every key the service receives, its own
	// (under its block, Field relative to it: "tier.id") and the shared
	// ones (Shared, Field is the customer-level key: "email").
	Keys []ServiceKey
	// Example is one of its keys that hints name ("enrolled": "add a column
	// of a service, such as bonifiq.enrolled").
	Example string
	// Rules are checks that span keys of one record, run for every
	// customer managed in the service.
	Rules []Rule
	// CreateNeeds lists the fields a create must carry (SPEC 3.1).
	CreateNeeds []string
	// Disable, when set, is what on_remove: disable sets on a customer that
	// leaves the manifests (bonifiq: enabled = false). Services without one
	// can only forget.
	Disable *Field
	// Defaults are the service's settings when the manifests give none.
	Defaults ProviderConfig
	// Limiter is the kind of rate limiter the default settings get.
	Limiter LimiterKind
	// Credentials are the environment variables that hold its credentials,
	// with the value each has in the sandbox.
	Credentials []Credential
	// BaseURLVar is the environment variable that overrides the base URL.
	BaseURLVar string
	// DefaultBaseURL is where the real service is.
	DefaultBaseURL string
	// SecretForms returns other forms the credentials take on the wire (the
	// Basic authorization of two variables), for redaction.
	SecretForms func(getenv func(string) string) []string
	// New builds the client. It needs no credentials (plans are offline).
	New func(ClientOptions) (Provider, error)
	// AnswersCarryRecord says the answers of its writes carry the customer
	// as the service then holds it (Outcome.Held), so verifying a write
	// costs no read; otherwise verification reads the customer back.
	AnswersCarryRecord bool
	// Sim builds the service's simulator, served by the sandbox under
	// SandboxPrefix.
	Sim func(SimOptions) Simulator
	// SandboxPrefix is where the sandbox mounts the simulator: "/bonifiq".
	SandboxPrefix string
	// Fault is the body of an injected failure in the service's own error
	// shape, for the sandbox's fault injection.
	Fault func(status int) any
}

// ServiceKey is one row of a service's wire table.
type ServiceKey struct {
	// Field is the key's name inside the service: "tier.id", or a shared
	// key's own path ("email"). For a Prefix key, the family: "custom_fields".
	Field string
	// Shared marks a customer-level key (name, email, phone, document) that
	// this service receives.
	Shared bool
	Type   Type
	// NotNull keys cannot be cleared: null on them is an error.
	NotNull bool
	// MinLen and MaxLen bound a string's length in characters (0: no bound).
	// On a shared key they bound it when the customer is managed here.
	MinLen, MaxLen int
	// Min and Max bound an integer.
	Min, Max int64
	// Enum lists the values a TypeEnum key accepts.
	Enum []string
	// Param keys shape calls but are never diffed.
	Param bool
	// Prefix marks a family of keys (custom_fields.<ID>).
	Prefix bool
	// Wire is the key's name in requests and answers ("Email",
	// "custom_field[%s]" for a family, the part after the prefix in %s).
	Wire string
	// Call names the request that settles the key ("profile",
	// "changestatus"): the service's Calls put it in that call's Fields.
	Call string
	// Readable keys are returned by the service's read, so refresh, import
	// and verification can compare them.
	Readable bool
	// Addresses marks a Param that addresses the customer later
	// (InvisibleCollector's gid, TomTicket's id_type): apply and import keep
	// it with the customer's ids in the state.
	Addresses bool
	// ResendNoun and ResendEffect, on a key the service cannot read back,
	// make the plan's note about updates that send it without the state
	// holding it: "the tier" and "a changetier restarts the customer's grace
	// period".
	ResendNoun, ResendEffect string
	// LongDetail explains a MaxLen on a shared key ("TomTicket keeps phone
	// numbers of up to 20 characters").
	LongDetail string
}

// Rule is a check that spans keys of one record.
type Rule struct {
	// Fields lists the fields (names inside the service) whose presence can
	// break the rule; a CSV without any of them skips it. Empty: the rule
	// applies to every customer managed in the service.
	Fields []string
	// Check returns the problems of one customer. get reads a field by its
	// name inside the service ("id" is the customer's id); bad reports a
	// field whose value was already rejected.
	Check func(id string, get func(field string) (Value, bool), bad func(field string) bool) []Problem
}

// Problem is one broken rule.
type Problem struct {
	// At is the field whose position the problem is reported at; Label the
	// field it names (At when empty). "id" is the customer's id.
	At, Label string
	Summary   string
	Detail    string
}

// Credential is one environment variable holding a credential.
type Credential struct {
	Var     string
	Sandbox string // the value the sandbox accepts
}

// LimiterKind is the kind of rate limiter a service's default settings get.
type LimiterKind uint8

// Limiter kinds.
const (
	// TokenBucket allows bursts of Burst and RateLimit per second on average.
	TokenBucket LimiterKind = iota
	// SlidingWindow allows at most RateLimit calls in any second, spaced
	// evenly (TomTicket's documented limit), when the settings keep a burst
	// of 1 and a whole rate.
	SlidingWindow
)

// ClientOptions configures a service's client.
type ClientOptions struct {
	// Config is the service's settings; BaseURL and Timeout are used.
	Config ProviderConfig
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient makes the requests; nil means a default client.
	HTTPClient *http.Client
}

// SimOptions configures a simulator.
type SimOptions struct {
	// Seed makes generated ids repeatable.
	Seed int64
	// Alternate serves the other readings of the vendor's pages where they
	// allow two (a not-found or a no-op answered 200 with an error in the
	// body instead of a 404): each provider's sim documents its own.
	Alternate bool
}

// Simulator is a service's simulator, as the sandbox serves it.
type Simulator interface {
	http.Handler
	// Snapshot returns the simulator's data, for the sandbox's data file.
	Snapshot() any
	// Restore replaces the data with a snapshot read back from JSON.
	Restore(data []byte) error
}

// Vars lists the service's environment variables: credentials, then the
// base URL's.
func (s *Service) Vars() []string {
	out := make([]string, 0, len(s.Credentials)+1)
	for _, c := range s.Credentials {
		out = append(out, c.Var)
	}
	if s.BaseURLVar != "" {
		out = append(out, s.BaseURLVar)
	}
	return out
}

// CredentialVars lists the variables that hold the service's credentials.
func (s *Service) CredentialVars() []string {
	out := make([]string, 0, len(s.Credentials))
	for _, c := range s.Credentials {
		out = append(out, c.Var)
	}
	return out
}

// NewLimiter returns the limiter cfg asks for: the service's kind at its
// default shape, a token bucket otherwise.
func (s *Service) NewLimiter(cfg ProviderConfig) Limiter {
	if s.Limiter == SlidingWindow && cfg.Burst <= 1 && cfg.RateLimit == float64(int(cfg.RateLimit)) && cfg.RateLimit >= 1 {
		return NewSlidingWindow(int(cfg.RateLimit), time.Second, DefaultWindowMargin)
	}
	return NewTokenBucket(cfg.RateLimit, cfg.Burst)
}

// Key returns the wire-table row of field name (a family's row for
// "custom_fields.x"), or nil.
func (s *Service) Key(name string) *ServiceKey {
	for i := range s.Keys {
		k := &s.Keys[i]
		if k.Field == name {
			if k.Prefix {
				return nil
			}
			return k
		}
		if k.Prefix && len(name) > len(k.Field)+1 && name[:len(k.Field)] == k.Field && name[len(k.Field)] == '.' {
			return k
		}
	}
	return nil
}

// FieldsOf returns the names of the fields in fs that call settles, in fs's
// order, appended to dst.
func (s *Service) FieldsOf(dst []string, call string, fs Fields) []string {
	for _, f := range fs {
		if k := s.Key(f.Name); k != nil && k.Call == call && !k.Param {
			dst = append(dst, f.Name)
		}
	}
	return dst
}

// Origin renders u's scheme, host and port (the default port spelled out)
// and path: what decides where credentials go.
func Origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port) + strings.TrimRight(u.EscapedPath(), "/")
}

// ManifestBaseURLs returns, by service, the base URLs the plan's manifests
// set (providers.<name>.base_url) in full (Origin), for the plan views:
// credentials go there only when the operator allows it.
func (p *Plan) ManifestBaseURLs() map[string]string {
	out := map[string]string{}
	for name, c := range p.Providers {
		if c.BaseURL == "" {
			continue
		}
		if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
			out[name] = Origin(u)
		} else {
			out[name] = c.BaseURL
		}
	}
	return out
}
