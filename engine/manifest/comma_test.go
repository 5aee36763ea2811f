package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/encoding/unicode"
)

func TestComma(t *testing.T) {
	dir := t.TempDir()
	utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("Código;Nome\r\n1;Ana\r\n")
	files := map[string]string{
		"semi.csv":  "Código;Nome;Cidade\r\n1;Ana;\"Rio, RJ\"\r\n",
		"semi2.csv": "\xef\xbb\xbfid;name\n1;x\n",
		"comma.csv": "id,name\n1,\"a;b;c\"\n",
		"utf16.csv": utf16,
		"m.yaml":    "customers: [{id: 'a;b;c', bonifiq: {}}]\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	for _, tc := range []struct {
		files []string
		want  rune
	}{
		{p("semi.csv"), ';'},
		{p("utf16.csv"), ';'},
		{p("comma.csv"), ','},
		{p("m.yaml"), ','},
		{nil, ','},
		{p("missing.csv"), ','},
		{p("semi.csv", "comma.csv"), ','},
		{p("semi.csv", "semi2.csv", "comma.csv", "comma.csv", "comma.csv"), ';'},
		{p("semi.csv", "m.yaml", "semi.csv"), ';'},
	} {
		if got := Comma(tc.files); got != tc.want {
			t.Errorf("Comma(%q) = %q, want %q", tc.files, got, tc.want)
		}
	}
}
