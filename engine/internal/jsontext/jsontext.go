// Package jsontext holds what the engine's JSON writers and the state's
// reader share about JSON strings: which bytes a string cannot hold as
// they stand, found eight at a time.
package jsontext

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Special returns a word with the top bit of each byte of x (eight bytes,
// the first lowest) set where the byte is a quote, a backslash, below 0x20
// or at least 0x80. A byte above the first such one may be set wrongly
// (a borrow carries upward); the first is exact, and x has such a byte
// exactly when the word is not zero.
func Special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ ('"' * ones)
	e := x ^ ('\\' * ones)
	return ((x-0x20*ones) & ^x | (q-ones) & ^q | (e-ones) & ^e | x) & highs
}

// Plain reports whether encoding/json (without HTML escaping) writes s as
// it stands between quotes: no quote, backslash or control character,
// valid UTF-8, and neither U+2028 nor U+2029, which it escapes.
func Plain(s string) bool {
	if len(s) < 8 {
		return rest(s, 0)
	}
	// Words of eight bytes, the last one ending with s (overlapping the
	// one before): no byte by byte tail.
	for i := 0; ; i += 8 {
		if i > len(s)-8 {
			i = len(s) - 8
		}
		if m := Special(binary.LittleEndian.Uint64([]byte(s[i : i+8]))); m != 0 {
			return rest(s, i+bits.TrailingZeros64(m)/8)
		}
		if i == len(s)-8 {
			return true
		}
	}
}

// rest is Plain of s from i, where a byte Special flags is.
func rest(s string, i int) bool {
	t := s[i:]
	return Unescaped(t) && !strings.Contains(t, "\u2028") && !strings.Contains(t, "\u2029")
}

// Unescaped reports whether b is a JSON string's text as it stands, with
// nothing escaped: no quote, backslash or control character, and valid
// UTF-8 (what a reader takes without decoding it; a writer escapes U+2028
// and U+2029 besides, see Plain).
func Unescaped[T string | []byte](b T) bool {
	high := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"' || c == '\\' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	if !high {
		return true
	}
	if s, ok := any(b).(string); ok {
		return utf8.ValidString(s)
	}
	return utf8.Valid([]byte(b))
}
