package engine

import (
	"slices"
	"strings"
)

// Provider names, as they appear in manifests, addresses and the state.
const (
	BonifiQ            = "bonifiq"
	InvisibleCollector = "invisiblecollector"
	TomTicket          = "tomticket"
)

// ProviderNames lists every provider in address order.
var ProviderNames = []string{BonifiQ, InvisibleCollector, TomTicket}

// Type is the kind of value a manifest key takes, and how it is checked.
type Type uint8

// Key types.
const (
	TypeString  Type = iota // any text, within MaxLen
	TypeBool                // true/false, yes/no, sim/não, verdadeiro/falso, 1/0
	TypeInt                 // int32 within [Min, Max]
	TypeDate                // YYYY-MM-DD, canonical "YYYY-MM-DD"
	TypeTime                // RFC 3339 or a date (00:00 UTC), canonical RFC 3339 UTC
	TypeEmail               // an e-mail address
	TypeEnum                // one of Enum
	TypeCountry             // ISO 3166-1 alpha-2
)

// Key describes one manifest key: its path, which providers it reaches,
// its type and its rules. The schema is the SPEC 2.1 table as data.
type Key struct {
	// Path is the YAML path joined with dots, which is also the CSV header:
	// "email", "bonifiq.tier.id".
	Path string
	// Provider is the provider whose block holds the key, or "" for a
	// shared key (id, name, email, phone, document).
	Provider string
	// Field is the field's name inside the provider ("tier.id"); for a
	// shared key, the path itself. Plans and the state use it.
	Field string
	// Providers lists the providers a shared key reaches.
	Providers []string
	Type      Type
	// NotNull keys cannot be cleared: null on them is an error.
	NotNull bool
	// MinLen and MaxLen bound a string's length in characters (0: no bound).
	MinLen, MaxLen int
	// Min and Max bound an integer.
	Min, Max int64
	// Enum lists the values a TypeEnum key accepts.
	Enum []string
	// Param keys are carried to the calls but never diffed: they say how to
	// address or annotate a change, not what the service holds.
	Param bool
	// Prefix marks a family of keys, "tomticket.custom_fields.<ID>".
	Prefix bool
	// Unreadable fields cannot be read back from the service (SPEC 3.4).
	Unreadable bool
}

const maxInt32 = 1<<31 - 1

// Schema lists every manifest key. Order is the order a plan shows fields in
// when two names compare equal, which never happens; fields are sorted by name.
var Schema = []*Key{
	{Path: "id", Type: TypeString, NotNull: true, MinLen: 1, MaxLen: 250},
	{Path: "name", Providers: []string{BonifiQ, InvisibleCollector, TomTicket}, Type: TypeString, NotNull: true, MinLen: 1, MaxLen: 250},
	{Path: "email", Providers: []string{BonifiQ, InvisibleCollector, TomTicket}, Type: TypeEmail, MaxLen: 250},
	{Path: "phone", Providers: []string{BonifiQ, InvisibleCollector, TomTicket}, Type: TypeString},
	{Path: "document", Providers: []string{BonifiQ}, Type: TypeString},

	{Path: "bonifiq.enrolled", Type: TypeBool, NotNull: true},
	{Path: "bonifiq.birthday", Type: TypeDate},
	{Path: "bonifiq.signup_date", Type: TypeTime},
	{Path: "bonifiq.enabled", Type: TypeBool, NotNull: true, Unreadable: true},
	{Path: "bonifiq.status_reason", Type: TypeString, Param: true},
	{Path: "bonifiq.tier.id", Type: TypeInt, NotNull: true, Min: 1, Max: maxInt32, Unreadable: true},
	{Path: "bonifiq.tier.grace_period_days", Type: TypeInt, Min: 0, Max: maxInt32, Unreadable: true},
	{Path: "bonifiq.tier.comments", Type: TypeString, Unreadable: true},

	{Path: "invisiblecollector.gid", Type: TypeString, Param: true},
	{Path: "invisiblecollector.vat_number", Type: TypeString},
	{Path: "invisiblecollector.address", Type: TypeString},
	{Path: "invisiblecollector.zip_code", Type: TypeString},
	{Path: "invisiblecollector.city", Type: TypeString},
	{Path: "invisiblecollector.country", Type: TypeCountry, NotNull: true},
	{Path: "invisiblecollector.locale", Type: TypeEnum, Enum: []string{"pt", "es", "en", "fr-fr", "de", "zh-CN"}},

	{Path: "tomticket.id_type", Type: TypeEnum, Enum: []string{"internal", "email"}, NotNull: true, Param: true},
	{Path: "tomticket.internal_id", Type: TypeString},
	{Path: "tomticket.create_tickets", Type: TypeBool},
	{Path: "tomticket.organization_id", Type: TypeString, MaxLen: 512},
	{Path: "tomticket.portfolio_id", Type: TypeString, MaxLen: 512},
	{Path: "tomticket.language", Type: TypeEnum, Enum: []string{"pt-BR", "es_ES", "en-US"}},
	{Path: "tomticket.custom_fields", Type: TypeString, Prefix: true},
}

// TomTicketPhoneMax is TomTicket's limit on phone numbers; other services
// take longer ones.
const TomTicketPhoneMax = 20

var schemaByPath = func() map[string]*Key {
	m := make(map[string]*Key, len(Schema))
	for _, k := range Schema {
		if i := strings.IndexByte(k.Path, '.'); i > 0 {
			k.Provider = k.Path[:i]
			k.Field = k.Path[i+1:]
		} else {
			k.Field = k.Path
		}
		m[k.Path] = k
	}
	return m
}()

// LookupKey returns the schema entry for a manifest path, or nil. A path
// below a Prefix key (tomticket.custom_fields.cf_plan) returns the prefix key.
func LookupKey(path string) *Key {
	if k := schemaByPath[path]; k != nil && !k.Prefix {
		return k
	}
	if i := strings.LastIndexByte(path, '.'); i > 0 {
		if k := schemaByPath[path[:i]]; k != nil && k.Prefix && i+1 < len(path) {
			return k
		}
	}
	return nil
}

// KeyPaths lists every fixed key path, for "did you mean" hints.
func KeyPaths() []string {
	out := make([]string, 0, len(Schema))
	for _, k := range Schema {
		out = append(out, k.Path)
	}
	return out
}

// IsProvider reports whether name is a known provider.
func IsProvider(name string) bool { return slices.Contains(ProviderNames, name) }

// ProviderIndex returns name's position in ProviderNames, or -1.
func ProviderIndex(name string) int { return slices.Index(ProviderNames, name) }

// FieldName returns the name a manifest path has inside provider p, or ""
// when the path does not reach p. Shared keys keep their path; provider keys
// drop the provider prefix: "bonifiq.tier.id" is "tier.id" in bonifiq.
func FieldName(path, p string) string {
	if path == "id" {
		return ""
	}
	if strings.HasPrefix(path, p) && len(path) > len(p) && path[len(p)] == '.' {
		return path[len(p)+1:]
	}
	if k := schemaByPath[path]; k != nil && slices.Contains(k.Providers, p) {
		return path
	}
	return ""
}

// FieldKey returns the schema key of field name inside provider p.
func FieldKey(p, name string) *Key {
	if k := schemaByPath[name]; k != nil && k.Provider == "" {
		return k
	}
	return LookupKey(p + "." + name)
}
