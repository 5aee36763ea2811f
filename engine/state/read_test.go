package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

const hdr = `{"format_version":"1","lineage":"` + testLineage + `","serial":4,"resources":`

// corruptCases are state files that cannot be read, and the whole message
// after "FILE" of the error reading them gives.
func corruptCases() []struct{ name, file, want string } {
	long := hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"x":"` + strings.Repeat("a", MaxLineBytes) + `"}}` + "\n"
	tests := []struct{ name, file, want string }{
		{"empty", "", ": empty file: not a reconcile state (a missing file is an empty state, an empty file is an error)"},
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ":1: not a reconcile state: binary data"},
		{"binary without newline", strings.Repeat("\x00\xff", 40000), ":1: not a reconcile state: binary data"},
		{"terraform", "{\n  \"version\": 4,\n  \"terraform_version\": \"1.9.0\",\n  \"serial\": 3\n}\n", ":1: not a reconcile state: this is a Terraform state"},
		{"json document", "{\n  \"a\": 1\n}\n", ":1: not a reconcile state: the first line is not a header line (a JSON document spread over several lines?)"},
		{"html", "<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n", `:1: not a reconcile state: it looks like HTML or XML (it starts with "<!DOCTYPE html>")`},
		{"text", "hello world\n", `:1: not a reconcile state: the first line is not a JSON header line (it starts with "hello world")`},
		{"blank first line", "\n" + hdr + "0}\n", ":1: the first line is blank; a state starts with a header line"},
		{"no header", `{"address":"bonifiq/1","fields":{}}` + "\n", ":1: no header line: the first line is a resource"},
		{"header without version", `{"lineage":"` + testLineage + `","serial":1,"resources":0}` + "\n", `:1: header has no "format_version"`},
		{"future version", `{"format_version":"2","lineage":"` + testLineage + `"}` + "\n", `:1: format version "2": this build of reconcile reads format version "1" only; upgrade reconcile`},
		{"numeric version", `{"format_version":1,"lineage":"` + testLineage + `","serial":1,"resources":0}` + "\n", `:1: format_version must be a string such as "1", not 1`},
		{"header without lineage", `{"format_version":"1","serial":1,"resources":0}` + "\n", `:1: header has no "lineage"`},
		{"bad lineage", `{"format_version":"1","lineage":"prod","serial":1,"resources":0}` + "\n", `:1: lineage "prod" is not a UUID`},
		{"header without serial", `{"format_version":"1","lineage":"` + testLineage + `","resources":0}` + "\n", `:1: header has no "serial"`},
		{"negative serial", `{"format_version":"1","lineage":"` + testLineage + `","serial":-1,"resources":0}` + "\n", `:1: serial -1 is not a non-negative integer`},
		{"header without count", `{"format_version":"1","lineage":"` + testLineage + `","serial":1}` + "\n", `:1: header has no "resources"`},
		{"unknown header key", hdr + `0,"extra":1}` + "\n", `:1: unknown header key "extra"`},
		{"header trailing data", hdr + `0} x` + "\n", `:1:98: unexpected data after the header object`},
		{"bad json", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{` + "\n", `:2: the header`}, // replaced below
		{"not an object", hdr + "1}\n[1,2]\n", `:2: want a JSON object for a resource, got an array`},
		{"unknown provider", hdr + "1}\n" + `{"address":"hubspot/1","fields":{}}` + "\n", `:2: unknown provider "hubspot" in address "hubspot/1" (known: bonifiq, invisiblecollector, tomticket)`},
		{"address without id", hdr + "1}\n" + `{"address":"bonifiq/","fields":{}}` + "\n", `:2: address "bonifiq/" is not PROVIDER/ID`},
		{"address not a string", hdr + "1}\n" + `{"address":12,"fields":{}}` + "\n", `:2: address must be a string, not 12`},
		{"no address", hdr + "1}\n" + `{"fields":{}}` + "\n", `:2: resource has no "address"`},
		{"unknown key", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{},"extra":{}}` + "\n", `:2: unknown key "extra" (a resource has address, fields and ids)`},
		{"duplicate key", hdr + "1}\n" + `{"address":"bonifiq/1","address":"bonifiq/2"}` + "\n", `:2: key "address" appears twice`},
		{"duplicate address", hdr + "3}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{}}` + "\n" + `{"address":"bonifiq/1","fields":{"a":1}}` + "\n", `:4: address "bonifiq/1" appears twice`},
		{"duplicate field", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"b":1,"a":2,"b":3}}` + "\n", `:2: field "b" appears twice`},
		{"duplicate id", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{},"ids":{"gid":"1","gid":"1"}}` + "\n", `:2: id "gid" appears twice`},
		{"float", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"tier.id":1.5}}` + "\n", `:2:44: field "tier.id": 1.5 is not an integer; a state value is a string, an integer, true, false or null`},
		{"exponent", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":1e3}}` + "\n", `:2:38: field "n": 1e3 is not an integer`},
		{"huge integer", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":9223372036854775808}}` + "\n", `:2:38: field "n": 9223372036854775808 is out of the 64-bit integer range`},
		{"array", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"tags":["a"]}}` + "\n", `:2:41: field "tags": an array is not a state value (a string, an integer, true, false or null)`},
		{"object", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{},"ids":{"x":{}}}` + "\n", `:2:47: id "x": an object is not a state value`},
		{"fields not an object", hdr + "1}\n" + `{"address":"bonifiq/1","fields":[]}` + "\n", `:2: fields must be an object, not an array`},
		{"truncated", hdr + "3}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{}}` + "\n", `: the file is truncated: the header announces 3 resources, the file holds 2`},
		{"cut mid-line", hdr + "2}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fie`, `:3:24: the last line is incomplete (invalid JSON: the line ends in the middle of a value): the file is truncated`},
		{"trailing garbage", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + "garbage\n", `:3:1: unexpected content after the 1 resource the header announces: invalid JSON: invalid character 'g' looking for beginning of value`},
		{"extra resource", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{}}` + "\n", `:3: unexpected content after the 1 resource the header announces`},
		{"zeroed tail", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + "\x00\x00\x00\x00", `:3:1: unexpected content after the 1 resource the header announces: binary data (NUL bytes), not a JSON line`},
		{"invalid utf-8", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":"caf` + "\xe9" + `"}}` + "\n", `:2:42: binary data (invalid UTF-8), not a JSON line`},
		{"control character", hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":"a` + "\x01" + `"}}` + "\n", `:2:38: field "n": invalid JSON: invalid character '\x01' in string literal`},
		{"line too long", long, `:2: line longer than 16 MiB`},
	}
	tests[19].want = `:2:34: fields: invalid JSON: the line ends in the middle of a value`
	return tests
}

func TestLoadCorrupt(t *testing.T) {
	for _, tt := range corruptCases() {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewFile(path, registry.Default().Names()...).Load(t.Context())
			if !errors.Is(err, engine.ErrStateCorrupt) {
				t.Fatalf("Load = %v, want an error wrapping ErrStateCorrupt", err)
			}
			if got, want := err.Error(), path+tt.want; !strings.HasPrefix(got, want) {
				t.Errorf("Load error\n got: %s\nwant: %s...", got, want)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.file {
				t.Errorf("Load changed the file")
			}
		})
	}
}

// TestLoadUnusualJSON: any valid JSON with the format's meaning loads, and
// means the same as the canonical line.
func TestLoadUnusualJSON(t *testing.T) {
	file := "\r\n" + // a blank line... after the header below
		"" // placeholder, built below
	_ = file
	lines := []string{
		` { "format_version" : "1" , "resources" : 6, "serial" : 4 , "lineage" : "` + testLineage + `" } `,
		`{"address":"bonifiq/1","fields":{"name":"Zo\u00eb \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","tier.id":-0,"a":null}}`,
		`  {"ids": {"PublicId": "x"}, "fields": {"b": true, "a": false}, "address": "bonifiq/2"}  `,
		``,
		"\t",
		`{"address":"bonifiq/3"}`,
		`{"address":"bonifiq/4","fields":{"n":007}}`[:0] + `{"address":"bonifiq/4","fields":{"big":12345678901234567890}}`[:0] + `{"address":"bonifiq/4","fields":{"n":-12,"m":1234567890123456789}}`,
		`{"address":"tomticket/5","fields":{"\u0061":"lone \ud800 surrogate"}}` + "\r",
		`{"address":"tomticket/6","fields":{"x":"caf` + "\u00e9" + `"},"ids":{}}`,
	}
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil { // no final newline
		t.Fatal(err)
	}
	got, err := NewFile(path).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &engine.State{Lineage: testLineage, Serial: 4, Resources: map[string]*engine.Entry{
		"bonifiq/1": {Provider: "bonifiq", ID: "1", Fields: engine.Fields{
			{Name: "a", Value: engine.Null()},
			{Name: "name", Value: engine.String("Zoë 😀 \"q\" \\ / \b\f\n\r\t")},
			{Name: "tier.id", Value: engine.Int(0)},
		}},
		"bonifiq/2": {Provider: "bonifiq", ID: "2",
			Fields: engine.Fields{{Name: "a", Value: engine.Bool(false)}, {Name: "b", Value: engine.Bool(true)}},
			IDs:    engine.Fields{{Name: "PublicId", Value: engine.String("x")}}},
		"bonifiq/3": {Provider: "bonifiq", ID: "3"},
		"bonifiq/4": {Provider: "bonifiq", ID: "4", Fields: engine.Fields{{Name: "m", Value: engine.Int(1234567890123456789)}, {Name: "n", Value: engine.Int(-12)}}},
		"tomticket/5": {Provider: "tomticket", ID: "5", Fields: engine.Fields{
			{Name: "a", Value: engine.String("lone \ufffd surrogate")}, // as encoding/json decodes it
		}},
		"tomticket/6": {Provider: "tomticket", ID: "6", Fields: engine.Fields{{Name: "x", Value: engine.String("café")}}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// TestFieldsAreSeparate: appending to one loaded entry's fields must not
// overwrite another's, though they share one backing array.
func TestFieldsAreSeparate(t *testing.T) {
	var buf bytes.Buffer
	s := genState(10)
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	got, err := Read(t.Context(), &buf, "test")
	if err != nil {
		t.Fatal(err)
	}
	e := got.Resources["bonifiq/1000000"]
	e.Fields = e.Fields.Set("zzz", engine.Int(1))
	e.IDs = e.IDs.Set("zzz", engine.Int(1))
	for addr, e := range got.Resources {
		if addr == "bonifiq/1000000" {
			continue
		}
		if diff := cmp.Diff(s.Resources[addr], e); diff != "" {
			t.Errorf("%s changed (-want +got):\n%s", addr, diff)
		}
	}
}

// TestParallelLoadReportsFirstError: with many chunks decoded at once, the
// first bad line in the file is the one reported.
func TestParallelLoadReportsFirstError(t *testing.T) {
	s := genState(60000) // about 10 MB: several chunks
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(buf.Bytes(), []byte("\n"))
	for _, n := range []int{59000, 30001, 40000} { // 0-based; line n+1
		lines[n] = []byte(`{"address":"nope/1","fields":{}}`)
	}
	for range 5 {
		_, err := Read(t.Context(), bytes.NewReader(bytes.Join(lines, []byte("\n"))), "f", registry.Default().Names()...)
		if want := `f:30002: unknown provider "nope"`; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("Read = %v, want %s", err, want)
		}
	}
}

// FuzzFastPath checks that whatever line the fast decoder accepts, the
// encoding/json one accepts too, with the same meaning.
func FuzzFastPath(f *testing.F) {
	for _, e := range tricky().Resources {
		f.Add(e.AppendJSON(nil))
	}
	for _, e := range genState(4).Resources {
		f.Add(e.AppendJSON(nil))
	}
	for _, s := range []string{
		`{"address":"bonifiq/1","fields":{"a":-0,"b":01,"c":"\ud800","d":"\u00e9\ud83d\ude00"}}`,
		`{"address":"bonifiq/1","fields":{"a":123456789012345678,"b":1234567890123456789}}`,
		`{"address":"bonifiq/1","fields":{"a":"x"},"ids":{"a":true,"b":false,"c":null}}`,
		`{"address":"bonifiq/1","fields":{"a":"\x"}}`,
		`{"address":"bonifiq/1","fields":{"a":"` + "\xff" + `"}}`,
		`{"address":"bonifiq/1","fields":{"em\u0061il":"x","emailx":"y","name"x:1}}`,
		`{"address":"bonifiq/1","fields":{Xemail":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		fast := newLineParser(nil)
		// Primed with a line of the usual names, so that its names are
		// the ones matched without decoding.
		for _, e := range genState(2).Resources {
			if _, ok := fast.fast(e.AppendJSON(nil)); !ok {
				t.Fatal("the fast decoder refuses a line Write makes")
			}
			fast.arena, fast.fields = fast.arena[:0], fast.fields[:0]
		}
		rf, ok := fast.fast(line)
		if !ok {
			return
		}
		slow := newLineParser(nil)
		rs, err := slow.slow(line)
		if err != nil {
			t.Fatalf("fast accepts %q, slow says %s", line, err.msg)
		}
		type kv struct {
			Name, Value string
			Kind        engine.Kind
		}
		view := func(p *lineParser, r entryRec) (string, []kv, []kv) {
			get := func(s span) []kv {
				var out []kv
				for _, f := range p.fields[s.Off:s.End] {
					v := ""
					if f.Kind != engine.KindNull {
						v = string(p.arena[f.Val.Off:f.Val.End])
					}
					out = append(out, kv{f.Name, v, f.Kind})
				}
				return out
			}
			return string(p.arena[r.Addr.Off:r.Addr.End]), get(r.Fields), get(r.IDs)
		}
		fa, ff, fi := view(fast, rf)
		sa, sf, si := view(slow, rs)
		if diff := cmp.Diff([]any{sa, sf, si}, []any{fa, ff, fi}); diff != "" {
			t.Errorf("%q: slow and fast differ (-slow +fast):\n%s", line, diff)
		}
	})
}

// TestStrEveryPosition decodes strings with an escape, a non-ASCII rune or
// a control character at every offset, across the eight-byte words.
func TestStrEveryPosition(t *testing.T) {
	for n := range 40 {
		for _, tc := range []struct{ ins, want string }{
			{`\"`, `"`}, {`\\`, `\`}, {`\u00e9`, "é"}, {"é", "é"}, {"", ""},
		} {
			plain := strings.Repeat("x", n)
			body := plain[:n/2] + tc.ins + plain[n/2:]
			line := []byte(`"` + body + `",`)
			p := newLineParser(nil)
			raw, j, ok := p.str(line, 0)
			want := plain[:n/2] + tc.want + plain[n/2:]
			if !ok || string(raw) != want || j != len(line)-1 {
				t.Fatalf("str(%q) = %q, %d, %v; want %q, %d, true", line, raw, j, ok, want, len(line)-1)
			}
		}
		for _, bad := range []string{"\x01", "\xff", "\n"} {
			line := []byte(`"` + strings.Repeat("x", n) + bad + `y"`)
			if _, _, ok := newLineParser(nil).str(line, 0); ok {
				t.Fatalf("str(%q) accepted", line)
			}
		}
		if _, _, ok := newLineParser(nil).str([]byte(`"`+strings.Repeat("x", n)), 0); ok {
			t.Fatalf("str accepted an unterminated string of %d bytes", n)
		}
	}
}
