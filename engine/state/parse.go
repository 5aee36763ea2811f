package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/internal/jsontext"
)

// lineParser decodes the resource lines of one chunk into records that
// point into a byte arena, then turns them into entries with one string
// allocation, one []engine.Entry and one []engine.Field per chunk. Each
// decoding goroutine has its own.
//
// Every line goes first through fast, a hand-written decoder for exactly
// the shape Write produces; a line it does not understand (whitespace,
// keys in another order, a float, a syntax error) goes through slow, built
// on encoding/json, which accepts any valid JSON and words the errors.
// Both produce the same records, then finish checks them: what a line
// means never depends on which path read it.
type lineParser struct {
	arena   []byte // the chunk's decoded strings: addresses, string and integer values
	recs    []entryRec
	fields  []fieldRec
	scratch []byte            // an unescaped string, until it is copied
	names   map[string]string // field names seen, to share one copy of each
	known   []string          // the services an address may name (none: any)
	// recent holds the names last seen at each position in fields (0) and
	// ids (1): neighbouring lines list the same names in the same order, so
	// this usually spares the map lookup.
	recent [2][16]string

	lazy lazyLines // a lazy scan's (lazy.go)
}

// maxInterned bounds names: a state has a few dozen distinct field names;
// a hostile file should not grow the map without end.
const maxInterned = 4096

// The parser decodes lines into the form a scan hands out
// (engine.EntryBatch), so that a batch is the parser's own slices: a span
// is a run of the arena's bytes or of the fields, an entryRec a decoded
// line (its Addr in the arena, its Fields and IDs spans of fields), a
// fieldRec one name and value (Val in the arena for strings and integers,
// booleans too: "true" or "false").
type (
	span     = engine.Span
	entryRec = engine.RawEntry
	fieldRec = engine.RawField
)

// spanOf returns the span [off, end).
func spanOf(off, end int) span { return span{Off: int32(off), End: int32(end)} }

func newLineParser(known []string) *lineParser {
	return &lineParser{names: make(map[string]string, 64), known: known}
}

func (p *lineParser) reset() {
	p.arena = p.arena[:0]
	p.recs = p.recs[:0]
	p.fields = p.fields[:0]
}

// intern returns a string equal to b, shared with earlier calls when it can.
func (p *lineParser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(p.names) < maxInterned {
		p.names[s] = s
	}
	return s
}

// lineError is a problem with one line, before it gets a file and a line
// number; col is a 1-based byte column or 0.
type lineError struct {
	col int
	msg string
}

// parseLine decodes line number n, appending one record.
func (p *lineParser) parseLine(b []byte, n int) *lineError {
	rec, err := p.decodeLine(b)
	if err != nil {
		return err
	}
	rec.Line = int32(n)
	p.recs = append(p.recs, rec)
	return nil
}

// decodeLine decodes a line into a record, its strings and fields appended
// to the arena and the fields, or leaves both as they were.
func (p *lineParser) decodeLine(b []byte) (entryRec, *lineError) {
	arena, fields := len(p.arena), len(p.fields)
	rec, ok := p.fast(b)
	if !ok {
		p.arena, p.fields = p.arena[:arena], p.fields[:fields]
		var err *lineError
		if rec, err = p.slow(b); err != nil {
			p.arena, p.fields = p.arena[:arena], p.fields[:fields]
			return rec, err
		}
	}
	if err := p.finish(&rec); err != nil {
		p.arena, p.fields = p.arena[:arena], p.fields[:fields]
		return rec, err
	}
	return rec, nil
}

// finish checks what a decoded line means, whichever path decoded it: a
// known provider and an id in the address, and field names sorted and
// unique (sorting them when the file lists them in another order).
func (p *lineParser) finish(r *entryRec) *lineError {
	addr := p.arena[r.Addr.Off:r.Addr.End]
	slash := bytes.IndexByte(addr, '/')
	if slash <= 0 || slash == len(addr)-1 {
		return &lineError{msg: fmt.Sprintf("address %q is not PROVIDER/ID", addr)}
	}
	r.Provider = ""
	for _, name := range p.known {
		if string(addr[:slash]) == name {
			r.Provider = name
			break
		}
	}
	if r.Provider == "" && len(p.known) == 0 && validProvider(string(addr[:slash])) {
		r.Provider = p.intern(addr[:slash])
	}
	if r.Provider == "" {
		if len(p.known) == 0 {
			return &lineError{msg: fmt.Sprintf("invalid provider %q in address %q", addr[:slash], addr)}
		}
		return &lineError{msg: fmt.Sprintf("unknown provider %q in address %q (known: %s)", addr[:slash], addr, strings.Join(p.known, ", "))}
	}
	for _, set := range [...]struct {
		s     span
		label string
	}{{r.Fields, "field"}, {r.IDs, "id"}} {
		fs := p.fields[set.s.Off:set.s.End]
		if !sortedUnique(fs) {
			slices.SortStableFunc(fs, func(a, b fieldRec) int { return cmp.Compare(a.Name, b.Name) })
			for i := 1; i < len(fs); i++ {
				if fs[i].Name == fs[i-1].Name {
					return &lineError{msg: fmt.Sprintf("%s %q appears twice", set.label, fs[i].Name)}
				}
			}
		}
	}
	return nil
}

func sortedUnique(fs []fieldRec) bool {
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Name >= fs[i].Name {
			return false
		}
	}
	return true
}

// materialize turns the chunk's records into entries, appending their
// addresses to addrs. The entries share one string for all of the chunk's
// addresses and values. Each entry's Fields and IDs are capacity-limited
// windows of one []engine.Field, so appending to one entry's fields
// reallocates rather than overwriting the next entry's.
func (p *lineParser) materialize(addrs []string) ([]engine.Entry, []string) {
	s := string(p.arena)
	fields := make([]engine.Field, len(p.fields))
	for i, f := range p.fields {
		fields[i].Name = f.Name
		if f.Kind != engine.KindNull {
			fields[i].Value = engine.Value{S: s[f.Val.Off:f.Val.End], K: f.Kind}
		}
	}
	entries := make([]engine.Entry, len(p.recs))
	for i, r := range p.recs {
		addr := s[r.Addr.Off:r.Addr.End]
		addrs = append(addrs, addr)
		e := &entries[i]
		e.Provider = r.Provider
		e.ID = addr[len(r.Provider)+1:]
		if r.Fields.End > r.Fields.Off {
			e.Fields = fields[r.Fields.Off:r.Fields.End:r.Fields.End]
		}
		if r.IDs.End > r.IDs.Off {
			e.IDs = fields[r.IDs.Off:r.IDs.End:r.IDs.End]
		}
	}
	return entries, addrs
}

// The fast path. It accepts only
//
//	{"address":STRING,"fields":OBJECT}
//	{"address":STRING,"fields":OBJECT,"ids":OBJECT}
//
// without whitespace, where an OBJECT maps strings to strings, integers of
// at most 18 digits, true, false or null, and returns false for anything
// else, leaving the line to slow.

func (p *lineParser) fast(b []byte) (entryRec, bool) {
	var r entryRec
	if !bytes.HasPrefix(b, []byte(addrKey)) {
		return r, false
	}
	i := len(addrKey)
	raw, i, ok := p.str(b, i)
	if !ok {
		return r, false
	}
	off := len(p.arena)
	p.arena = append(p.arena, raw...)
	r.Addr = spanOf(off, len(p.arena))
	if !bytes.HasPrefix(b[i:], []byte(fieldsKey)) {
		return r, false
	}
	if r.Fields, i, ok = p.object(b, i+len(fieldsKey), 0); !ok {
		return r, false
	}
	if bytes.HasPrefix(b[i:], []byte(idsKey)) {
		if r.IDs, i, ok = p.object(b, i+len(idsKey), 1); !ok {
			return r, false
		}
	} else {
		r.IDs = spanOf(len(p.fields), len(p.fields))
	}
	return r, i == len(b)-1 && b[i] == '}'
}

// object decodes the object at b[i], appending its members to p.fields;
// obj is 0 for fields, 1 for ids.
func (p *lineParser) object(b []byte, i, obj int) (span, int, bool) {
	s := spanOf(len(p.fields), len(p.fields))
	if i >= len(b) || b[i] != '{' {
		return s, i, false
	}
	i++
	if i < len(b) && b[i] == '}' {
		return s, i + 1, true
	}
	for {
		var f fieldRec
		var ok bool
		if f.Name, i, ok = p.fieldName(b, i, obj, len(p.fields)-int(s.Off)); !ok {
			return s, i, false
		}
		if i >= len(b) {
			return s, i, false
		}
		switch c := b[i]; {
		case c == '"':
			raw, j, ok := p.str(b, i)
			if !ok {
				return s, i, false
			}
			off := len(p.arena)
			p.arena = append(p.arena, raw...)
			f.Kind, f.Val, i = engine.KindString, spanOf(off, len(p.arena)), j
		case c == 't' && bytes.HasPrefix(b[i:], []byte("true")):
			off := len(p.arena)
			p.arena = append(p.arena, "true"...)
			f.Kind, f.Val, i = engine.KindBool, spanOf(off, len(p.arena)), i+4
		case c == 'f' && bytes.HasPrefix(b[i:], []byte("false")):
			off := len(p.arena)
			p.arena = append(p.arena, "false"...)
			f.Kind, f.Val, i = engine.KindBool, spanOf(off, len(p.arena)), i+5
		case c == 'n' && bytes.HasPrefix(b[i:], []byte("null")):
			f.Kind, i = engine.KindNull, i+4
		case c == '-' || '0' <= c && c <= '9':
			j := i
			if c == '-' {
				j++
			}
			d := j
			for j < len(b) && '0' <= b[j] && b[j] <= '9' {
				j++
			}
			// Canonical integers only: no leading zero, no "-0", and few
			// enough digits to fit an int64 without checking.
			if j == d || j-d > 18 || b[d] == '0' && (j-d > 1 || c == '-') {
				return s, i, false
			}
			off := len(p.arena)
			p.arena = append(p.arena, b[i:j]...)
			f.Kind, f.Val, i = engine.KindInt, spanOf(off, len(p.arena)), j
		default:
			return s, i, false
		}
		p.fields = append(p.fields, f)
		if i >= len(b) {
			return s, i, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			s.End = int32(len(p.fields))
			return s, i + 1, true
		default:
			return s, i, false
		}
	}
}

// fieldName decodes the name of the member at b[i], the k-th of object obj
// (0 fields, 1 ids), and its colon; it returns the interned name and the
// index after the colon. The name last seen at that position, quoted as it
// stands (only names JSON writes without escapes are remembered), is the
// usual case: matched without decoding.
func (p *lineParser) fieldName(b []byte, i, obj, k int) (string, int, bool) {
	recent := k < len(p.recent[obj])
	if r := ""; recent {
		r = p.recent[obj][k]
		if end := i + 1 + len(r); r != "" && end+1 < len(b) && b[i] == '"' && b[end] == '"' && b[end+1] == ':' && string(b[i+1:end]) == r {
			return r, end + 2, true
		}
	}
	name, j, ok := p.str(b, i)
	if !ok || j >= len(b) || b[j] != ':' {
		return "", i, false
	}
	interned := p.intern(name)
	if recent && plainName(interned) {
		p.recent[obj][k] = interned
	}
	return interned, j + 1, true
}

// str decodes the JSON string at b[i]. It returns its contents, either a
// window of b or, when the string has escapes, of p.scratch (valid until
// the next call), and the index after the closing quote. It gives up on
// control characters, invalid UTF-8 and lone surrogates, which slow
// handles like encoding/json does.
func (p *lineParser) str(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	start := i + 1
	escaped, high := false, false
	for j := start; j < len(b); j++ {
		// Eight plain bytes at a time: none a quote, a backslash, a
		// control character or beyond ASCII.
		for j+8 <= len(b) {
			m := jsontext.Special(binary.LittleEndian.Uint64(b[j:]))
			if m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		if j == len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			raw := b[start:j]
			if high && !utf8.Valid(raw) {
				return nil, i, false
			}
			if !escaped {
				return raw, j + 1, true
			}
			var ok bool
			p.scratch, ok = unescape(p.scratch[:0], raw)
			return p.scratch, j + 1, ok
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, i, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, i, false
}

// plainName reports whether name is written in JSON as it is: no quote,
// backslash, control character or non-ASCII byte.
func plainName(name string) bool {
	for k := 0; k < len(name); k++ {
		if c := name[k]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// unescape appends the contents of a JSON string, given without its quotes,
// to dst.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || len(raw) < i+6 || raw[i] != '\\' || raw[i+1] != 'u' {
					return dst, false
				}
				r2, ok := hex4(raw[i+2:])
				if !ok || r2 < 0xdc00 || r2 > 0xdfff {
					return dst, false
				}
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// slow decodes any valid JSON form of a resource line with encoding/json,
// and explains what is wrong with an invalid one.
func (p *lineParser) slow(b []byte) (entryRec, *lineError) {
	var r entryRec
	if err := checkText(b); err != nil {
		return r, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return r, jsonError(dec, err, "")
	}
	if tok != json.Delim('{') {
		return r, &lineError{msg: fmt.Sprintf("want a JSON object for a resource, got %s", describeToken(tok))}
	}
	seen := map[string]bool{}
	r.Fields = spanOf(len(p.fields), len(p.fields))
	r.IDs = r.Fields
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return r, jsonError(dec, err, "")
		}
		key := tok.(string) // dec.More inside an object: a key or an error
		if seen[key] {
			return r, &lineError{msg: fmt.Sprintf("key %q appears twice", key)}
		}
		seen[key] = true
		switch key {
		case "address":
			tok, err := dec.Token()
			if err != nil {
				return r, jsonError(dec, err, "address")
			}
			s, ok := tok.(string)
			if !ok {
				return r, &lineError{msg: fmt.Sprintf("address must be a string, not %s", describeToken(tok))}
			}
			off := len(p.arena)
			p.arena = append(p.arena, s...)
			r.Addr = spanOf(off, len(p.arena))
		case "fields", "ids":
			// Each object's members are contiguous in p.fields, in
			// whichever order the two objects come.
			start := len(p.fields)
			label := "field"
			if key == "ids" {
				label = "id"
			}
			if err := p.slowObject(dec, label); err != nil {
				return r, err
			}
			if key == "fields" {
				r.Fields = spanOf(start, len(p.fields))
			} else {
				r.IDs = spanOf(start, len(p.fields))
			}
		default:
			return r, &lineError{msg: fmt.Sprintf("unknown key %q (a resource has address, fields and ids)", key)}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return r, jsonError(dec, err, "")
	}
	if _, err := dec.Token(); err != io.EOF {
		col := int(dec.InputOffset()) + 1
		if err != nil {
			return r, jsonError(dec, err, "")
		}
		return r, &lineError{col: col, msg: "unexpected data after the resource object"}
	}
	if !seen["address"] {
		return r, &lineError{msg: `resource has no "address"`}
	}
	return r, nil
}

// slowObject decodes a fields or ids object with dec.
func (p *lineParser) slowObject(dec *json.Decoder, label string) *lineError {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(dec, err, label+"s")
	}
	if tok != json.Delim('{') {
		return &lineError{msg: fmt.Sprintf("%ss must be an object, not %s", label, describeToken(tok))}
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(dec, err, label+"s")
		}
		f := fieldRec{Name: p.intern([]byte(tok.(string)))}
		tok, err = dec.Token()
		if err != nil {
			return jsonError(dec, err, fmt.Sprintf("%s %q", label, f.Name))
		}
		switch v := tok.(type) {
		case string:
			off := len(p.arena)
			p.arena = append(p.arena, v...)
			f.Kind, f.Val = engine.KindString, spanOf(off, len(p.arena))
		case json.Number:
			col := int(dec.InputOffset()) - len(v) + 1
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				what := "is not an integer"
				if errors.Is(err, strconv.ErrRange) {
					what = "is out of the 64-bit integer range"
				}
				return &lineError{col: col, msg: fmt.Sprintf("%s %q: %s %s; a state value is a string, an integer, true, false or null", label, f.Name, v, what)}
			}
			off := len(p.arena)
			p.arena = strconv.AppendInt(p.arena, i, 10)
			f.Kind, f.Val = engine.KindInt, spanOf(off, len(p.arena))
		case bool:
			off := len(p.arena)
			p.arena = strconv.AppendBool(p.arena, v)
			f.Kind, f.Val = engine.KindBool, spanOf(off, len(p.arena))
		case nil:
			f.Kind = engine.KindNull
		default:
			return &lineError{col: int(dec.InputOffset()), msg: fmt.Sprintf("%s %q: %s is not a state value (a string, an integer, true, false or null)", label, f.Name, describeToken(tok))}
		}
		p.fields = append(p.fields, f)
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(dec, err, label+"s")
	}
	return nil
}

// checkText rejects a line that is not UTF-8 text, the sign of a binary
// file or of a crash that left zeros at the end of a file.
func checkText(b []byte) *lineError {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return &lineError{col: i + 1, msg: "binary data (NUL bytes), not a JSON line"}
	}
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return &lineError{col: i + 1, msg: "binary data (invalid UTF-8), not a JSON line"}
			}
			i += n
		}
	}
	return nil
}

// jsonError words a decoding error; where names what was being read.
func jsonError(dec *json.Decoder, err error, where string) *lineError {
	// After a failed Token, the decoder stands at the bad byte or at the
	// start of the bad value; SyntaxError.Offset is not measured from the
	// same place on every path.
	col := int(dec.InputOffset()) + 1
	var msg string
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		msg = "invalid JSON: " + syn.Error()
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		msg = "invalid JSON: the line ends in the middle of a value"
	default:
		msg = "invalid JSON: " + err.Error()
	}
	if where != "" {
		msg = where + ": " + msg
	}
	return &lineError{col: col, msg: msg}
}

// describeToken names a JSON token for messages: "an array", "1.5".
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return string(v)
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}
