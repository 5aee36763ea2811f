package engine

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

// MaxInt32 is the largest value a TypeInt key takes.
const MaxInt32 = 1<<31 - 1

// Key describes one manifest key: its path, which services it reaches, its
// type and its rules. A Registry builds the keys from its services' wire
// tables (ServiceKey), so that the manifest loader reads every service's
// keys the same way.
type Key struct {
	// Path is the YAML path joined with dots, which is also the CSV header:
	// "email", "bonifiq.tier.id".
	Path string
	// Provider is the service whose block holds the key, or "" for a shared
	// key (id, name, email, phone, document).
	Provider string
	// Field is the field's name inside the service ("tier.id"); for a shared
	// key, the path itself. Plans and the state use it.
	Field string
	// Providers lists the services a shared key reaches.
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
}

// IDKey is the customer's id, the one key every record has.
var IDKey = &Key{Path: "id", Field: "id", Type: TypeString, NotNull: true, MinLen: 1, MaxLen: 250}
