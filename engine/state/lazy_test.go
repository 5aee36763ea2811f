package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// lazyLine takes line as a lazy scan does, as line 2 of a chunk of its
// own, and returns the parser and its batch, or nil when the line is
// decoded in full on the spot.
func lazyLine(line []byte) (*lineParser, *engine.EntryBatch) {
	p := newLineParser(nil)
	p.lazy.on = true
	p.lazy.start(&chunk{buf: line}, "state")
	if !p.lightLine(line, 0, 2) {
		return nil, nil
	}
	return p, &engine.EntryBatch{Arena: p.arena, Recs: p.recs, Fields: p.fields, Lines: p}
}

// wantOf returns what an unchanged entry with fields fs is wanted to hold.
func wantOf(fs engine.Fields) *engine.Wanted {
	w := &engine.Wanted{Of: fs}
	for i, f := range fs {
		w.Names = append(w.Names, f.Name)
		w.Src = append(w.Src, i)
	}
	return w
}

// checkSame checks Same of line against want, and Decode, with what
// decoding the line in full gives: Same says true only when the decoded
// entry holds exactly want's fields and is not absent, and says it
// whenever that is so of a line as Write writes it without escapes;
// Decode gives the decoded entry, or the error the full decoder gives.
func checkSame(t *testing.T, line []byte, want *engine.Wanted) {
	t.Helper()
	p, b := lazyLine(line)
	if p == nil {
		return
	}
	full := newLineParser(nil)
	ferr := full.parseLine(line, 2)
	var e *engine.Entry
	if ferr == nil {
		entries, _ := full.materialize(nil)
		e = &entries[0]
	}
	same := p.Same(b, 0, want)
	if len(p.fields) != 0 {
		t.Fatalf("Same kept %d fields", len(p.fields))
	}
	exact := e != nil && !e.Absent()
	if exact {
		var got engine.Fields
		for k, name := range want.Names {
			got = append(got, engine.Field{Name: name, Value: want.Of[want.Src[k]].Value})
		}
		exact = cmp.Equal(got, e.Fields, cmpopts.EquateEmpty())
	}
	if same && !exact {
		t.Fatalf("Same(%q) = true; decoded in full: %+v, %v; want %+v", line, e, ferr, want)
	}
	if !same && exact && bytes.IndexByte(line, '\\') < 0 && bytes.Equal(line, e.AppendJSON(nil)) {
		t.Fatalf("Same(%q) = false for a line as Write writes it, holding what is wanted", line)
	}
	err := p.Decode(b, 0)
	switch {
	case ferr != nil:
		if err == nil || !strings.HasSuffix(err.Error(), ": "+ferr.msg) {
			t.Fatalf("Decode(%q) = %v; the full decoder says %q", line, err, ferr.msg)
		}
	case err != nil:
		t.Fatalf("Decode(%q) = %v; the full decoder takes it", line, err)
	default:
		r := &b.Recs[0]
		if r.Lazy() {
			t.Fatal("Decode left the record lazy")
		}
		if got := b.Entry(r); !cmp.Equal(got, e, cmpopts.EquateEmpty()) {
			t.Fatalf("Decode(%q) = %+v, the full decoder %+v", line, got, e)
		}
	}
}

func TestLazySame(t *testing.T) {
	plainLine := `{"address":"bonifiq/1","fields":{"email":"a@b.c","enrolled":true,"n":-12,"name":"Zoë","x":null},"ids":{"PublicId":"p-1"}}`
	fs := engine.Fields{
		{Name: "email", Value: engine.String("a@b.c")},
		{Name: "enrolled", Value: engine.Bool(true)},
		{Name: "n", Value: engine.Value{S: "-12", K: engine.KindInt}},
		{Name: "name", Value: engine.String("Zoë")},
		{Name: "x", Value: engine.Null()},
	}
	p, b := lazyLine([]byte(plainLine))
	if p == nil || !p.Same(b, 0, wantOf(fs)) {
		t.Fatal("Same is false for a line holding what is wanted")
	}
	cases := map[string]struct {
		line string
		fs   engine.Fields
	}{
		"as wanted":            {plainLine, fs},
		"no ids":               {`{"address":"bonifiq/1","fields":{"a":"x"}}`, fs[:1]},
		"no fields":            {`{"address":"bonifiq/1","fields":{},"ids":{}}`, nil},
		"a value differs":      {plainLine, append(fs[:3:3], engine.Field{Name: "name", Value: engine.String("Zoe")}, fs[4])},
		"one byte apart":       {plainLine, append(fs[:3:3], engine.Field{Name: "name", Value: engine.String("Zoè")}, fs[4])},
		"a digit apart":        {plainLine, append(fs[:2:2], engine.Field{Name: "n", Value: engine.Value{S: "-13", K: engine.KindInt}}, fs[3], fs[4])},
		"a long value apart":   {`{"address":"bonifiq/1","fields":{"a":"abcdefghijk"}}`, engine.Fields{{Name: "a", Value: engine.String("abcdefgXijk")}}},
		"the last byte apart":  {`{"address":"bonifiq/1","fields":{"a":"abcdefghijk"}}`, engine.Fields{{Name: "a", Value: engine.String("abcdefghijX")}}},
		"a quote at the end":   {`{"address":"bonifiq/1","fields":{"a":"abcdefghij\""}}`, engine.Fields{{Name: "a", Value: engine.String(`abcdefghij\`)}}},
		"a kind differs":       {strings.Replace(plainLine, `-12`, `"-12"`, 1), fs},
		"a field more":         {plainLine, fs[:4]},
		"a field less":         {strings.Replace(plainLine, `,"x":null`, ``, 1), fs},
		"escaped value":        {`{"address":"bonifiq/1","fields":{"a":"x\"y"}}`, engine.Fields{{Name: "a", Value: engine.String(`x"y`)}}},
		"escape as text":       {`{"address":"bonifiq/1","fields":{"a":"x\\ny"}}`, engine.Fields{{Name: "a", Value: engine.String(`x\ny`)}}},
		"escaped, wanted raw":  {`{"address":"bonifiq/1","fields":{"a":"x\ny"}}`, engine.Fields{{Name: "a", Value: engine.String(`x\ny`)}}},
		"unicode escape":       {`{"address":"bonifiq/1","fields":{"a":"\u00e9"}}`, engine.Fields{{Name: "a", Value: engine.String("é")}}},
		"control character":    {"{\"address\":\"bonifiq/1\",\"fields\":{\"a\":\"x\ty\"}}", engine.Fields{{Name: "a", Value: engine.String("x\ty")}}},
		"invalid UTF-8":        {"{\"address\":\"bonifiq/1\",\"fields\":{\"a\":\"\xff\"}}", engine.Fields{{Name: "a", Value: engine.String("\xff")}}},
		"long value":           {`{"address":"bonifiq/1","fields":{"a":"` + strings.Repeat("abcdefgh", 9) + `é"}}`, engine.Fields{{Name: "a", Value: engine.String(strings.Repeat("abcdefgh", 9) + "é")}}},
		"quote past eight":     {`{"address":"bonifiq/1","fields":{"a":"abcdefghi\"j"}}`, engine.Fields{{Name: "a", Value: engine.String(`abcdefghi"j`)}}},
		"escaped name":         {`{"address":"bonifiq/1","fields":{"\u0061":"x"}}`, engine.Fields{{Name: "a", Value: engine.String("x")}}},
		"absent":               {`{"address":"bonifiq/1","fields":{},"ids":{"` + engine.AbsentID + `":true}}`, nil},
		"not absent":           {`{"address":"bonifiq/1","fields":{},"ids":{"` + engine.AbsentID + `":false}}`, nil},
		"ids unsorted":         {`{"address":"bonifiq/1","fields":{},"ids":{"b":"1","a":"2"}}`, nil},
		"ids twice":            {`{"address":"bonifiq/1","fields":{},"ids":{"a":"1","a":"2"}}`, nil},
		"ids bad":              {`{"address":"bonifiq/1","fields":{},"ids":{"a":}}`, nil},
		"trailing data":        {`{"address":"bonifiq/1","fields":{}} `, nil},
		"trailing after ids":   {`{"address":"bonifiq/1","fields":{},"ids":{}}x`, nil},
		"unknown key":          {`{"address":"bonifiq/1","fields":{},"extra":1}`, nil},
		"truncated":            {`{"address":"bonifiq/1","fields":{"a":"x"`, engine.Fields{{Name: "a", Value: engine.String("x")}}},
		"truncated after name": {`{"address":"bonifiq/1","fields":{"a":`, engine.Fields{{Name: "a", Value: engine.String("x")}}},
		"spaces":               {`{"address":"bonifiq/1","fields":{"a": "x"}}`, engine.Fields{{Name: "a", Value: engine.String("x")}}},
		"int with zero":        {`{"address":"bonifiq/1","fields":{"a":01}}`, engine.Fields{{Name: "a", Value: engine.Value{S: "01", K: engine.KindInt}}}},
		"int prefix":           {`{"address":"bonifiq/1","fields":{"a":123}}`, engine.Fields{{Name: "a", Value: engine.Value{S: "12", K: engine.KindInt}}}},
		"big int":              {`{"address":"bonifiq/1","fields":{"a":1234567890123456789}}`, engine.Fields{{Name: "a", Value: engine.Value{S: "1234567890123456789", K: engine.KindInt}}}},
		"float":                {`{"address":"bonifiq/1","fields":{"a":1.5}}`, engine.Fields{{Name: "a", Value: engine.Value{S: "1", K: engine.KindInt}}}},
		"bool prefix":          {`{"address":"bonifiq/1","fields":{"a":truex}}`, engine.Fields{{Name: "a", Value: engine.Bool(true)}}},
		"null wanted":          {`{"address":"bonifiq/1","fields":{"a":"null"}}`, engine.Fields{{Name: "a", Value: engine.Null()}}},
		"empty string":         {`{"address":"bonifiq/1","fields":{"a":""}}`, engine.Fields{{Name: "a", Value: engine.String("")}}},
		"empty wanted":         {`{"address":"bonifiq/1","fields":{"a":""}}`, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { checkSame(t, []byte(tc.line), wantOf(tc.fs)) })
	}
	// A line lightLine leaves to the full decoder.
	for _, line := range []string{
		`{"address":"bon\u0069fiq/1","fields":{}}`,
		`{"address":"bonifiq/1", "fields":{}}`,
		`{"fields":{},"address":"bonifiq/1"}`,
		`{"address":"hubspot/1","fields":{}}`,
	} {
		p := newLineParser(registry.Default().Names())
		p.lazy.on = true
		if p.lightLine([]byte(line), 0, 2) {
			t.Errorf("lightLine takes %q", line)
		}
	}
}

// FuzzLazySame: whatever the line, Same never says true of a line that
// does not hold exactly what is wanted, and Decode decodes it as the full
// decoder does.
func FuzzLazySame(f *testing.F) {
	for _, e := range tricky().Resources {
		f.Add(e.AppendJSON(nil), uint8(0))
	}
	for _, e := range genState(4).Resources {
		f.Add(e.AppendJSON(nil), uint8(1))
		f.Add(e.AppendJSON(nil), uint8(2))
		f.Add(e.AppendJSON(nil), uint8(3))
	}
	f.Add([]byte(`{"address":"bonifiq/1","fields":{"a":"x\\y","b":"`+strings.Repeat("é", 5)+`"},"ids":{"`+engine.AbsentID+`":true}}`), uint8(0))
	f.Fuzz(func(t *testing.T, line []byte, how uint8) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		// What is wanted: what the line holds, decoded in full, then
		// changed as how says.
		full := newLineParser(nil)
		var fs engine.Fields
		if full.parseLine(line, 2) == nil {
			entries, _ := full.materialize(nil)
			fs = entries[0].Fields.Clone()
		}
		switch k := int(how >> 2); how & 3 {
		case 1:
			if len(fs) > 0 {
				fs = fs[:len(fs)-1]
			}
		case 2:
			if len(fs) > 0 { // one byte apart
				v := &fs[k%len(fs)].Value
				if b := []byte(v.S); len(b) > 0 {
					b[len(b)-1] ^= 1
					v.S = string(b)
				} else {
					v.S = "x"
				}
			}
		case 3:
			fs = fs.Set("zz", engine.Value{S: "1", K: engine.KindInt})
		}
		checkSame(t, line, wantOf(fs))
	})
}

// TestLazyScanReportsWhatScanReports: a lazy scan whose visitor decodes
// every entry it is handed says of every bad file what Scan says, and of
// a bad line found when decoding, what Scan says of it where it stands.
func TestLazyScanReportsWhatScanReports(t *testing.T) {
	good := func(i int) string {
		return `{"address":"bonifiq/` + string(rune('a'+i)) + `","fields":{"a":"x"}}` + "\n"
	}
	cases := corruptCases()
	for _, bad := range []struct{ name, line string }{
		{"bad value", `{"address":"bonifiq/c","fields":{"a":}}`},
		{"bad ids", `{"address":"bonifiq/c","fields":{"a":"x"},"ids":{"a"}}`},
		{"unknown key", `{"address":"bonifiq/c","fields":{},"extra":1}`},
		{"field twice", `{"address":"bonifiq/c","fields":{"a":"x","a":"y"}}`},
	} {
		cases = append(cases,
			struct{ name, file, want string }{bad.name, hdr + "4}\n" + good(0) + good(1) + bad.line + "\n" + good(3), ""},
			struct{ name, file, want string }{bad.name + " last, no newline", hdr + "3}\n" + good(0) + good(1) + bad.line, ""},
			struct{ name, file, want string }{bad.name + " after the count", hdr + "2}\n" + good(0) + good(1) + bad.line + "\n", ""},
			struct{ name, file, want string }{bad.name + " before a duplicate", hdr + "4}\n" + good(0) + bad.line + "\n" + good(3) + good(3), ""},
		)
	}
	cases = append(cases, struct{ name, file, want string }{"truncated after the address", hdr + "3}\n" + good(0) + good(1) + `{"address":"bonifiq/c","fields":{"a":"x`, ""})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			f := NewFile(path, registry.Default().Names()...)
			var eager, lazy []string
			_, want := f.Scan(t.Context(), func(b *engine.EntryBatch) error {
				for i := range b.Recs {
					eager = append(eager, b.Entry(&b.Recs[i]).Address())
				}
				return nil
			})
			lazies := 0
			_, got := f.ScanLazy(t.Context(), func(b *engine.EntryBatch) error {
				for i := range b.Recs {
					if b.Recs[i].Lazy() {
						lazies++
						if err := b.Lines.Decode(b, i); err != nil {
							return err
						}
					}
					lazy = append(lazy, b.Entry(&b.Recs[i]).Address())
				}
				return nil
			})
			if (want == nil) != (got == nil) || want != nil && want.Error() != got.Error() {
				t.Errorf("ScanLazy = %v\n    Scan = %v", got, want)
			}
			if tt.want == "" && lazies == 0 {
				t.Error("no line was decoded lazily")
			}
			if want == nil && !cmp.Equal(eager, lazy) {
				t.Errorf("ScanLazy visited %q, Scan %q", lazy, eager)
			}
		})
	}
}
