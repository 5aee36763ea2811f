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

// rest is Plain of s from i, byte by byte up to the first byte beyond
// ASCII, then by runes.
func rest(s string, i int) bool {
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			t := s[i:]
			return utf8.ValidString(t) && !strings.Contains(t, "\u2028") && !strings.Contains(t, "\u2029") && !strings.ContainsAny(t, "\"\\") && !hasControl(t)
		}
	}
	return true
}

// hasControl reports whether s holds a byte below 0x20.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}
