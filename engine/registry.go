package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxServices is how many services a registry holds: a customer's managed
// services are bits of one word.
const MaxServices = 64

// Registry is the set of services reconcile knows, in address order, and
// the manifest schema their wire tables make. The product's registry
// (providers/registry) holds three; tests build their own.
type Registry struct {
	services []*Service
	index    map[string]int
	names    []string
	keys     []*Key
	byPath   map[string]*Key
	// proj caches, per service, what each fixed manifest path means inside
	// it, so that diffing millions of customers does no string work.
	proj []map[string]fieldInfo
}

// NewRegistry checks the services' declarations and builds the schema.
// Shared keys that two services declare must agree on their type.
func NewRegistry(services ...*Service) (*Registry, error) {
	if len(services) > MaxServices {
		return nil, fmt.Errorf("registry: %d services; at most %d", len(services), MaxServices)
	}
	r := &Registry{index: map[string]int{}, byPath: map[string]*Key{}}
	sorted := slices.Clone(services)
	slices.SortFunc(sorted, func(a, b *Service) int { return strings.Compare(a.Name+"/", b.Name+"/") })
	r.keys = append(r.keys, IDKey)
	r.byPath[IDKey.Path] = IDKey
	for i, s := range sorted {
		if !validServiceName(s.Name) {
			return nil, fmt.Errorf("registry: service name %q: lower-case letters and digits only", s.Name)
		}
		if _, dup := r.index[s.Name]; dup {
			return nil, fmt.Errorf("registry: service %q registered twice", s.Name)
		}
		if s.New == nil {
			return nil, fmt.Errorf("registry: service %q has no client constructor", s.Name)
		}
		r.index[s.Name] = i
		r.services = append(r.services, s)
		r.names = append(r.names, s.Name)
		for j := range s.Keys {
			sk := &s.Keys[j]
			if sk.Field == "" || sk.Field == "id" {
				return nil, fmt.Errorf("registry: %s: key %q: invalid name", s.Name, sk.Field)
			}
			if !sk.Shared {
				k := &Key{Path: s.Name + "." + sk.Field, Provider: s.Name, Field: sk.Field, Type: sk.Type, NotNull: sk.NotNull,
					MinLen: sk.MinLen, MaxLen: sk.MaxLen, Min: sk.Min, Max: sk.Max, Enum: sk.Enum, Param: sk.Param, Prefix: sk.Prefix}
				if r.byPath[k.Path] != nil {
					return nil, fmt.Errorf("registry: %s: key %q declared twice", s.Name, sk.Field)
				}
				r.keys = append(r.keys, k)
				r.byPath[k.Path] = k
				continue
			}
			k := r.byPath[sk.Field]
			if k == nil {
				// The shared key's length bound is the loosest of the
				// services' (none when one has none); a stricter one is
				// checked per service (Registry.SharedLimits).
				k = &Key{Path: sk.Field, Field: sk.Field, Type: sk.Type, NotNull: sk.NotNull, MinLen: sk.MinLen, MaxLen: sk.MaxLen, Enum: sk.Enum}
				r.keys = append(r.keys, k)
				r.byPath[k.Path] = k
			} else {
				if k.Type != sk.Type || k.NotNull != sk.NotNull {
					return nil, fmt.Errorf("registry: shared key %q: %s declares it unlike %s", sk.Field, s.Name, k.Providers[0])
				}
				if sk.MaxLen == 0 || (k.MaxLen != 0 && sk.MaxLen > k.MaxLen) {
					k.MaxLen = sk.MaxLen
				}
			}
			k.Providers = append(k.Providers, s.Name)
		}
	}
	// Shared keys first (in the order the services declare them), then each
	// service's own, as manifests list them.
	slices.SortStableFunc(r.keys, func(a, b *Key) int {
		ra, rb := 0, 0
		if a.Provider != "" {
			ra = 1 + r.index[a.Provider]
		}
		if b.Provider != "" {
			rb = 1 + r.index[b.Provider]
		}
		return ra - rb
	})
	r.proj = make([]map[string]fieldInfo, len(r.services))
	for i, s := range r.services {
		m := map[string]fieldInfo{}
		for _, k := range r.keys {
			if k.Prefix {
				continue
			}
			name := r.FieldName(k.Path, s.Name)
			info := fieldInfo{name: name}
			if name != "" {
				if fk := r.FieldKey(s.Name, name); fk == nil || fk.Param {
					info.param = true
				}
			}
			m[k.Path] = info
		}
		r.proj[i] = m
	}
	return r, nil
}

// MustRegistry is NewRegistry for declarations known to be valid; it panics
// otherwise.
func MustRegistry(services ...*Service) *Registry {
	r, err := NewRegistry(services...)
	if err != nil {
		panic(err)
	}
	return r
}

func validServiceName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// Services lists the services in address order.
func (r *Registry) Services() []*Service { return r.services }

// Names lists the services' names in address order.
func (r *Registry) Names() []string { return r.names }

// Service returns the named service, or nil.
func (r *Registry) Service(name string) *Service {
	if i := r.Index(name); i >= 0 {
		return r.services[i]
	}
	return nil
}

// Index returns the service's position (its Managed bit), or -1.
func (r *Registry) Index(name string) int {
	// A few services, the usual: compared, without hashing the name (a
	// plan asks for each of its millions of changes).
	if len(r.services) <= smallRegistry {
		for i, s := range r.services {
			if s.Name == name {
				return i
			}
		}
		return -1
	}
	if i, ok := r.index[name]; ok {
		return i
	}
	return -1
}

// smallRegistry is how many services Index looks through in order.
const smallRegistry = 8

// Has reports whether name is a registered service.
func (r *Registry) Has(name string) bool { _, ok := r.index[name]; return ok }

// Keys lists every manifest key: id, the shared keys, then each service's.
func (r *Registry) Keys() []*Key { return r.keys }

// LookupKey returns the schema entry for a manifest path, or nil. A path
// below a Prefix key (tomticket.custom_fields.cf_plan) returns the prefix key.
func (r *Registry) LookupKey(path string) *Key {
	if k := r.byPath[path]; k != nil && !k.Prefix {
		return k
	}
	if i := strings.LastIndexByte(path, '.'); i > 0 {
		if k := r.byPath[path[:i]]; k != nil && k.Prefix && i+1 < len(path) {
			return k
		}
	}
	return nil
}

// FieldName returns the name a manifest path has inside service p, or ""
// when the path does not reach p. Shared keys keep their path; a service's
// keys drop its prefix: "bonifiq.tier.id" is "tier.id" in bonifiq.
func (r *Registry) FieldName(path, p string) string {
	if path == "id" {
		return ""
	}
	if strings.HasPrefix(path, p) && len(path) > len(p) && path[len(p)] == '.' {
		return path[len(p)+1:]
	}
	if k := r.byPath[path]; k != nil && k.Provider == "" && slices.Contains(k.Providers, p) {
		return path
	}
	return ""
}

// Path returns the manifest path of field name inside service p: the
// inverse of FieldName. "id" is the customer's id.
func (r *Registry) Path(p, name string) string {
	if name == "id" {
		return name
	}
	if k := r.byPath[name]; k != nil && k.Provider == "" {
		return name
	}
	return p + "." + name
}

// FieldKey returns the schema key of field name inside service p.
func (r *Registry) FieldKey(p, name string) *Key {
	if k := r.byPath[name]; k != nil && k.Provider == "" {
		return k
	}
	return r.LookupKey(p + "." + name)
}

// fieldInfo is what a manifest path means inside one service.
type fieldInfo struct {
	name  string // "" when the path does not reach the service
	param bool
}

// projection returns what manifest path means inside service p.
func (r *Registry) projection(path, p string) fieldInfo {
	if i, ok := r.index[p]; ok {
		if info, ok := r.proj[i][path]; ok {
			return info
		}
	}
	name := r.FieldName(path, p)
	if name == "" {
		return fieldInfo{}
	}
	k := r.FieldKey(p, name)
	return fieldInfo{name: name, param: k == nil || k.Param}
}

// DefaultConfig returns service p's default settings (SPEC defaults for a
// service the registry does not know).
func (r *Registry) DefaultConfig(p string) ProviderConfig {
	if s := r.Service(p); s != nil {
		return s.Defaults
	}
	return ProviderConfig{RateLimit: 5, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: 30 * time.Second, OnRemove: OnRemoveForget}
}

// Config returns p's settings from cfgs, or its defaults.
func (r *Registry) Config(cfgs map[string]ProviderConfig, p string) ProviderConfig {
	if c, ok := cfgs[p]; ok {
		return c
	}
	return r.DefaultConfig(p)
}

// Resource projects c onto service p: the fields p receives, by their names
// inside p, split into diffed fields and parameters.
func (r *Registry) Resource(c *Customer, p string) *Resource {
	res := &Resource{}
	r.project(c, p, res)
	return res
}

// project fills res with c's projection onto service p.
func (r *Registry) project(c *Customer, p string, res *Resource) {
	*res = Resource{Provider: p, ID: c.ID, Source: c.Pos}
	// One pass into stack buffers, then one exact allocation each: plans
	// project millions of customers.
	var fbuf, pbuf [32]Field
	fields, params := fbuf[:0], pbuf[:0]
	for _, f := range c.Fields {
		switch info := r.projection(f.Name, p); {
		case info.name == "":
		case info.param:
			params = append(params, Field{Name: info.name, Value: f.Value})
		default:
			fields = append(fields, Field{Name: info.name, Value: f.Value})
		}
	}
	res.Fields = append(make(Fields, 0, len(fields)), fields...)
	if len(params) > 0 {
		res.Params = append(make(Fields, 0, len(params)), params...)
	}
	res.Fields.Sort()
	res.Params.Sort()
}

// ManagedIn reports whether c is managed in service p.
func (r *Registry) ManagedIn(c *Customer, p string) bool {
	i := r.Index(p)
	return i >= 0 && c.Managed&(1<<i) != 0
}
