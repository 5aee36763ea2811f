package engine

import (
	"cmp"
	"errors"
	"slices"
	"time"
)

// Field is one named value. In a Customer the name is the manifest path
// ("bonifiq.tier.id"); in a Resource or the state, the provider's field name
// ("tier.id").
type Field struct {
	Name  string
	Value Value
}

// Fields is a list of fields sorted by name, with unique names.
type Fields []Field

// Get returns the value of name and whether it is present.
func (fs Fields) Get(name string) (Value, bool) {
	i, ok := slices.BinarySearchFunc(fs, name, func(f Field, n string) int { return cmp.Compare(f.Name, n) })
	if !ok {
		return Value{}, false
	}
	return fs[i].Value, true
}

// Set sets name to v, keeping fs sorted, and returns the new list.
func (fs Fields) Set(name string, v Value) Fields {
	i, ok := slices.BinarySearchFunc(fs, name, func(f Field, n string) int { return cmp.Compare(f.Name, n) })
	if ok {
		fs[i].Value = v
		return fs
	}
	return slices.Insert(fs, i, Field{Name: name, Value: v})
}

// Delete removes name and returns the new list.
func (fs Fields) Delete(name string) Fields {
	i, ok := slices.BinarySearchFunc(fs, name, func(f Field, n string) int { return cmp.Compare(f.Name, n) })
	if !ok {
		return fs
	}
	return slices.Delete(fs, i, i+1)
}

// Sort sorts fs by name.
func (fs Fields) Sort() {
	slices.SortFunc(fs, func(a, b Field) int { return cmp.Compare(a.Name, b.Name) })
}

// Clone returns a copy of fs that shares no backing array.
func (fs Fields) Clone() Fields { return slices.Clone(fs) }

// Customer is one desired customer record from the manifests.
type Customer struct {
	ID string
	// Pos is where the record starts: the YAML item or the CSV row.
	Pos Pos
	// Fields holds every managed key except id, by manifest path, sorted.
	Fields Fields
	// Managed has bit i set when the record is managed in the registry's
	// service i (Registry.Index).
	Managed uint64
}

// Resource is one customer in one provider, the unit plans and the state
// speak of. Its address is PROVIDER/ID.
type Resource struct {
	Provider string
	ID       string
	// Fields are the managed fields, by name inside the provider, sorted.
	Fields Fields
	// Params are managed keys that shape calls but are never diffed:
	// invisiblecollector gid, bonifiq status_reason, tomticket id_type.
	Params Fields
	// Source is where the customer is declared.
	Source Pos
}

// Address returns PROVIDER/ID.
func (r *Resource) Address() string { return Address(r.Provider, r.ID) }

// Address joins a provider and an id.
func Address(provider, id string) string { return provider + "/" + id }

// SplitAddress splits PROVIDER/ID at the first slash.
func SplitAddress(addr string) (provider, id string, ok bool) {
	for i := 0; i < len(addr); i++ {
		if addr[i] == '/' {
			return addr[:i], addr[i+1:], i > 0 && i+1 < len(addr)
		}
	}
	return "", "", false
}

// OnRemove says what happens to a customer that leaves the manifests.
type OnRemove string

// OnRemove policies.
const (
	OnRemoveForget  OnRemove = "forget"
	OnRemoveDisable OnRemove = "disable"
)

// OnMissing is what a create does with a customer the service lacks.
type OnMissing string

// OnMissing policies.
const (
	OnMissingCreate OnMissing = "" // the default: "create"
	OnMissingSkip   OnMissing = "skip"
)

// ErrSkipped is a create that found no customer in a service whose
// on_missing is skip: nothing was created, and nothing is recorded.
var ErrSkipped = errors.New("not in the service, and on_missing: skip: not created")

// ProviderConfig is a provider's settings from the manifests' providers
// block, with defaults filled in by Defaults.
type ProviderConfig struct {
	RateLimit   float64 // requests per second
	Burst       int     // token bucket burst
	Concurrency int     // requests in flight
	// MaxRetries bounds the retries of one call; a negative value (the
	// default) means as many as its CallBudget allows, 0 none.
	MaxRetries int
	Timeout    time.Duration // per request
	// CallBudget bounds one call's time, its retries and their waits
	// included (0: DefaultCallBudget).
	CallBudget time.Duration
	BaseURL    string // "" = the provider's default; the environment wins
	OnRemove   OnRemove
	// OnMissing says what a create does with a customer the service does
	// not have: create it (the default), or skip it (an update-only
	// migration: the customers that exist are updated, the others listed).
	OnMissing OnMissing
	// Pos is where the block is declared, for error messages.
	Pos Pos
}

// Desired is everything the manifests declare.
type Desired struct {
	// Registry is the set of services the manifests were read against: the
	// customers' Managed bits are its indexes.
	Registry *Registry
	// Customers in manifest order (files in load order, rows in file order).
	Customers []*Customer
	// Providers holds the effective settings of every provider (defaults for
	// those the manifests do not configure).
	Providers map[string]ProviderConfig
	// Files lists the manifest files read, in order, for sorting diagnostics.
	Files []string
}
