package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine/internal/jsontext"
)

// Kind says what a Value holds.
type Kind uint8

// The kinds a field value can have. KindNull is "managed and empty": the
// field is cleared in the service.
const (
	KindNull Kind = iota
	KindString
	KindBool
	KindInt
)

// Value is one field's value in canonical form, so that two values are equal
// exactly when == says so. Integers and booleans keep their canonical text
// (strconv.FormatInt, "true"/"false") in S; dates are "YYYY-MM-DD" and times
// are RFC 3339 in UTC. The layout is small on purpose: plans hold millions.
type Value struct {
	S string
	K Kind
}

// Null returns the cleared value.
func Null() Value { return Value{} }

// String returns a string value.
func String(s string) Value { return Value{S: s, K: KindString} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{S: "true", K: KindBool}
	}
	return Value{S: "false", K: KindBool}
}

// Int returns an integer value.
func Int(i int64) Value { return Value{S: strconv.FormatInt(i, 10), K: KindInt} }

// CanonicalInt reports whether s is a 64-bit integer in strconv.FormatInt's
// form, the text of an integer Value: an optional minus, digits, no leading
// zero, no -0.
func CanonicalInt(s string) bool {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 || d[0] == '0' && (len(d) > 1 || len(s) > len(d)) {
		return false
	}
	for k := 0; k < len(d); k++ {
		if d[k] < '0' || d[k] > '9' {
			return false
		}
	}
	if len(d) == 19 { // near the ends of the range
		_, err := strconv.ParseInt(s, 10, 64)
		return err == nil
	}
	return true
}

// IsNull reports whether v clears the field.
func (v Value) IsNull() bool { return v.K == KindNull }

// AsBool returns the boolean a KindBool value holds.
func (v Value) AsBool() bool { return v.K == KindBool && v.S == "true" }

// AsInt returns the integer a KindInt value holds.
func (v Value) AsInt() int64 {
	i, _ := strconv.ParseInt(v.S, 10, 64)
	return i
}

// GoString renders v as it appears in plans: strings quoted, null as null.
func (v Value) GoString() string {
	switch v.K {
	case KindNull:
		return "null"
	case KindString:
		return strconv.Quote(v.S)
	default:
		return v.S
	}
}

// String renders v for humans; see GoString.
func (v Value) String() string { return v.GoString() }

// AppendJSON appends v as a JSON value.
func (v Value) AppendJSON(b []byte) []byte {
	switch v.K {
	case KindNull:
		return append(b, "null"...)
	case KindString:
		return appendJSONString(b, v.S)
	default:
		return append(b, v.S...)
	}
}

// MarshalJSON encodes v as the JSON value of its kind.
func (v Value) MarshalJSON() ([]byte, error) { return v.AppendJSON(nil), nil }

// UnmarshalJSON decodes a JSON string, boolean, integer or null.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("empty value")
	case string(b) == "null":
		*v = Null()
	case string(b) == "true":
		*v = Bool(true)
	case string(b) == "false":
		*v = Bool(false)
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = String(s)
	default:
		i, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("value %s is not a string, boolean, integer or null", b)
		}
		*v = Int(i)
	}
	return nil
}

// appendJSONString appends s as a JSON string. It escapes like
// encoding/json without HTML escaping, and is fast for the common ASCII case.
func appendJSONString(b []byte, s string) []byte {
	if jsontext.Plain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// AppendJSONString appends s to b as a JSON string (no HTML escaping).
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

// ValidEmail is a plain check of an e-mail address: one @, a non-empty
// local part, a domain with a dot and no empty labels, no spaces or control
// characters.
func ValidEmail(s string) bool {
	at := -1
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if !ascii {
		for _, r := range s {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
				return false
			}
		}
	}
	if at <= 0 || at == len(s)-1 {
		return false
	}
	d := s[at+1:]
	return strings.IndexByte(d, '.') > 0 && d[len(d)-1] != '.' && !strings.Contains(d, "..")
}
