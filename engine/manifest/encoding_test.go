package manifest

import (
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/reconcile-dev/reconcile/engine"
)

func TestEncodings(t *testing.T) {
	text := "Código;Nome\r\n1;João Ângelo\r\n"
	cp1252, _ := charmap.Windows1252.NewEncoder().String(text)
	latin1, _ := charmap.ISO8859_1.NewEncoder().String(text)
	utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(text)
	utf16be, _ := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().String(text)
	want := []*engine.Customer{cust("1", "a.csv:2:1", nil, "name", "João Ângelo")}
	var cases []loadCase
	for _, tc := range []struct{ name, data string }{
		{"cp1252", cp1252}, {"windows-1252", cp1252}, {"Windows-1252", cp1252}, {"latin1", latin1}, {"ISO-8859-1", latin1},
		{"UTF-16", utf16}, {"UTF-16", utf16be}, {"utf-16le", utf16}, {"utf-8", text}, {"utf8", "\xef\xbb\xbf" + text},
	} {
		cases = append(cases, loadCase{
			name:      tc.name,
			paths:     []string{"m.yaml"},
			files:     map[string]string{"m.yaml": "sources:\n  - {file: a.csv, encoding: " + tc.name + ", columns: {Código: id, Nome: name}}\n", "a.csv": tc.data},
			want:      []string{"a.csv:1: warning: no column belongs to a provider: no row is managed in any provider (map a column to a key of a provider, such as bonifiq.enrolled, or give one in sources[0].defaults)"},
			customers: want,
		})
	}
	cases = append(cases,
		loadCase{
			name:  "unknown names, and UTF-16 without its name",
			paths: []string{"m.yaml"},
			files: map[string]string{
				"m.yaml": "sources:\n  - {file: a.csv, encoding: cp-1252, columns: {Código: id}}\n  - {file: b.csv, encoding: EBCDIC-XYZ}\n  - {file: c.csv, columns: {Código: id}}\n",
				"a.csv":  cp1252, "b.csv": cp1252, "c.csv": utf16,
			},
			want: []string{
				`m.yaml:2:29: sources[0].encoding: unknown encoding "cp-1252" (did you mean "cp1252"?)`,
				`m.yaml:3:29: sources[1].encoding: unknown encoding "EBCDIC-XYZ" (use an IANA name such as utf-8, windows-1252 (or cp1252: Excel's "CSV" on Windows), ISO-8859-1 (latin1) or UTF-16)`,
				"c.csv: UTF-16 is not supported without encoding: UTF-16 (add encoding: UTF-16 to sources[2] in m.yaml)",
			},
		})
	runLoadCases(t, cases)
}
