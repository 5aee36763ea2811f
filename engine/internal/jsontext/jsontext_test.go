package jsontext

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSpecial checks the eight-bytes-at-a-time test against a
// byte at a time: the first byte Special flags is the first quote,
// backslash, control character or non-ASCII byte, and none is flagged in
// a word of plain bytes.
func TestSpecial(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	pick := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff, 'a', '0'}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 200000 {
		var w [8]byte
		for k := range w {
			if n < 256*8 && k == n/256 {
				w[k] = byte(n % 256) // each value in each position
			} else if rng.IntN(4) == 0 {
				w[k] = pick[rng.IntN(len(pick))]
			} else {
				w[k] = byte(0x20 + rng.IntN(0x60))
			}
		}
		want := 8
		for k, c := range w {
			if isSpecial(c) {
				want = k
				break
			}
		}
		got := 8
		if m := Special(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != want {
			t.Fatalf("Special(%q): first special byte at %d, want %d", w, got, want)
		}
	}
}

// plainByJSON is what Plain answers, by encoding/json: whether it writes
// s, without HTML escaping, as it stands between quotes.
func plainByJSON(s string) bool {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return buf.String() == `"`+s+"\"\n"
}

func TestPlain(t *testing.T) {
	for _, s := range []string{
		"", "a", "customer1000001@example.com", "Zoë Müller", "日本語のテキスト", "tab\there", "quote\"d", `back\slash`,
		"\x7f", "\xff", "abcdefgh\xff", "abcdefghé\xe2\x80", "line\u2028sep", "para\u2029sep", "abcdefgh\u2028",
		"é\"", "é\\", "é\x01", strings.Repeat("a", 64) + "\n", strings.Repeat("é", 9) + "\x00", "<html>&amp;",
	} {
		if got, want := Plain(s), plainByJSON(s); got != want {
			t.Errorf("Plain(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestUnescaped(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, "abc": true, "Zoë": true, "line\u2028sep": true, "\x7f": true,
		`a"b`: false, `a\b`: false, "a\tb": false, "\xff": false, "é\xe2\x80": false,
	} {
		if got := Unescaped(s); got != want {
			t.Errorf("Unescaped(%q) = %v, want %v", s, got, want)
		}
		if got := Unescaped([]byte(s)); got != want {
			t.Errorf("Unescaped([]byte(%q)) = %v, want %v", s, got, want)
		}
	}
}

func FuzzPlain(f *testing.F) {
	f.Add("customer1000001@example.com")
	f.Add("Zoë\u2028\xff\"")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Plain(s), plainByJSON(s); got != want {
			t.Fatalf("Plain(%q) = %v, want %v", s, got, want)
		}
		// Plain is Unescaped, without U+2028 and U+2029.
		if want := Unescaped(s) && !strings.ContainsAny(s, "\u2028\u2029"); Plain(s) != want || Unescaped([]byte(s)) != Unescaped(s) {
			t.Fatalf("Plain(%q) = %v, Unescaped %v, %v", s, Plain(s), Unescaped(s), Unescaped([]byte(s)))
		}
	})
}
