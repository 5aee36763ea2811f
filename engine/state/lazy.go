package state

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
	"unsafe"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/internal/jsontext"
)

// A lazy scan (File.ScanLazy) decodes each line's address only, when the
// line starts as Write writes it, and hands out the chunk's batch with the
// parser as its engine.LineMatcher: the plan asks whether a line holds what
// the manifests want (Same), which it tells from the text without copying
// a byte of it, and decodes the lines it cannot tell (Decode). An
// unchanged entry then costs a comparison of its line, and the problems
// of a line are found when it is decoded, said as a scan that decodes
// every line says them.

// lazyLines is what a lazy scan keeps of the chunk whose batch is visited.
type lazyLines struct {
	on   bool
	text []byte // the chunk: the records' Text spans are in it
	name string // the file, for messages
	// cut is the number of the chunk's last line when it ends the file
	// without a newline (a truncated file), else 0.
	cut int
	// failed is the record Decode refused (-1: none), what is wrong with
	// its line (chunkResult.what).
	failed int
	what   string
	// names are the names of the last Wanted that Same found written as
	// they stand.
	names []string
}

// start readies l for chunk c of file name.
func (l *lazyLines) start(c *chunk, name string) {
	l.cut, l.failed, l.what = 0, -1, ""
	if l.on {
		l.text, l.name = c.buf, name
	}
}

const (
	addrKey   = `{"address":`
	fieldsKey = `,"fields":`
	idsKey    = `,"ids":`
)

// lightLine records line n, at off in the chunk, with only its address
// decoded, when the line starts as Write writes it: {"address":STRING,
// "fields": with an address without escapes, of a known service. It
// reports false for any other line, which is decoded in full.
func (p *lineParser) lightLine(b []byte, off, n int) bool {
	if !bytes.HasPrefix(b, []byte(addrKey)) {
		return false
	}
	raw, i, ok := p.str(b, len(addrKey))
	if !ok || i-len(addrKey)-2 != len(raw) || !bytes.HasPrefix(b[i:], []byte(fieldsKey)) {
		return false
	}
	arena := len(p.arena)
	p.arena = append(p.arena, raw...)
	none := spanOf(len(p.fields), len(p.fields))
	rec := entryRec{Line: int32(n), Addr: spanOf(arena, len(p.arena)), Fields: none, IDs: none, Text: spanOf(off, off+len(b))}
	if p.finish(&rec) != nil {
		p.arena = p.arena[:arena]
		return false // decoded in full, which says what is wrong
	}
	p.recs = append(p.recs, rec)
	return true
}

// Same implements engine.LineMatcher: it walks record r's line as fast
// does, comparing each member of its fields with the one want holds at
// its place, and checks its ids as fast decodes them. Anything else (a
// field want does not hold, one missing, a value written otherwise, a
// string JSON writes with escapes) gives false, and the line is decoded.
func (p *lineParser) Same(b *engine.EntryBatch, r int, want *engine.Wanted) bool {
	rec := &b.Recs[r]
	line := p.lazy.text[rec.Text.Off:rec.Text.End]
	// lightLine took the line only with an address without escapes.
	i := len(addrKey) + 2 + int(rec.Addr.End-rec.Addr.Off) + len(fieldsKey)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i++
	if len(want.Names) == 0 {
		if i >= len(line) || line[i] != '}' {
			return false
		}
		i++
	}
	// The names are the same few for every line: checked once that they
	// are written as they stand.
	checkNames := !sameStrings(want.Names, p.lazy.names)
	for k, name := range want.Names {
		// "NAME":
		var ok bool
		if i, ok = quoted(line, i, name, checkNames); !ok || i >= len(line) || line[i] != ':' {
			return false
		}
		i++
		v := want.Of[want.Src[k]].Value
		switch v.K {
		case engine.KindString:
			if i, ok = quoted(line, i, v.S, true); !ok {
				return false
			}
		default: // written as its text (null as null), if that is a value's
			lit := literal(v)
			if lit == "" || !bytes.HasPrefix(line[i:], []byte(lit)) {
				return false
			}
			i += len(lit)
		}
		next := byte(',')
		if k == len(want.Names)-1 {
			next = '}'
		}
		if i >= len(line) || line[i] != next {
			return false
		}
		i++
	}
	if checkNames {
		p.lazy.names = append(p.lazy.names[:0], want.Names...)
	}
	if i == len(line)-1 && line[i] == '}' {
		return true // no ids
	}
	if !bytes.HasPrefix(line[i:], []byte(idsKey)) {
		return false
	}
	// The ids are decoded as fast decodes them, checked, and dropped.
	arena, fields := len(p.arena), len(p.fields)
	ids, j, ok := p.object(line, i+len(idsKey), 1)
	if ok {
		b.Arena, b.Fields = p.arena, p.fields
		ok = j == len(line)-1 && line[j] == '}' && sortedUnique(p.fields[ids.Off:ids.End]) && !b.AbsentIDs(ids)
	}
	p.arena, p.fields = p.arena[:arena], p.fields[:fields]
	b.Arena, b.Fields = p.arena, p.fields
	return ok
}

// literal returns how Write writes v when it is not a string: its text,
// when that is a value of its kind; "" for anything else.
func literal(v engine.Value) string {
	switch {
	case v.K == engine.KindNull && v.S == "":
		return "null"
	case v.K == engine.KindBool && (v.S == "true" || v.S == "false"), v.K == engine.KindInt && engine.CanonicalInt(v.S):
		return v.S
	}
	return ""
}

// sameStrings reports whether a and b are the very same strings: the same
// bytes in memory (strings do not change), not merely equal ones.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) || unsafe.StringData(a[i]) != unsafe.StringData(b[i]) {
			return false
		}
	}
	return true
}

// Decode implements engine.LineMatcher.
func (p *lineParser) Decode(b *engine.EntryBatch, r int) error {
	rec := &b.Recs[r]
	full, err := p.decodeLine(p.lazy.text[rec.Text.Off:rec.Text.End])
	if err != nil {
		p.lazy.failed, p.lazy.what = r, err.msg
		return corruptLine(p.lazy.name, int(rec.Line), err, int(rec.Line) == p.lazy.cut)
	}
	rec.Fields, rec.IDs, rec.Text = full.Fields, full.IDs, span{}
	b.Arena, b.Fields = p.arena, p.fields
	return nil
}

// quoted reports whether line[i:] starts with the string v, quoted and
// written as it stands: as str reads it, without escapes (no quote,
// backslash or control character in v, and v valid UTF-8); it returns the
// index after the closing quote. check false skips the check of v's bytes,
// known to be plain.
func quoted(line []byte, i int, v string, check bool) (int, bool) {
	end := i + 1 + len(v)
	if end >= len(line) || line[i] != '"' || line[end] != '"' {
		return i, false
	}
	t, vb := line[i+1:end], unsafe.Slice(unsafe.StringData(v), len(v))
	// Eight bytes at a time: compared, and their special bytes gathered
	// (the first of a word is exact, and any at all is found).
	// From eight bytes on, the last word ends with v, overlapping the one
	// before: no byte by byte tail.
	var m uint64
	j := 0
	for ; j+8 <= len(t); j += 8 {
		x := binary.LittleEndian.Uint64(t[j:])
		if x != binary.LittleEndian.Uint64(vb[j:]) {
			return i, false
		}
		m |= jsontext.Special(x)
	}
	if j < len(t) && len(t) >= 8 {
		j = len(t) - 8
		x := binary.LittleEndian.Uint64(t[j:])
		if x != binary.LittleEndian.Uint64(vb[j:]) {
			return i, false
		}
		m |= jsontext.Special(x)
		j = len(t)
	}
	for ; j < len(t); j++ {
		if t[j] != vb[j] {
			return i, false
		}
		if c := t[j]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			m = 1
		}
	}
	if check && m != 0 && !jsontext.Unescaped(t) {
		return i, false
	}
	return end + 1, true
}

var _ engine.LineMatcher = (*lineParser)(nil)
