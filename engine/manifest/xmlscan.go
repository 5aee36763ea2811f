package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// xmlScanner reads the tokens of an XML document with no allocation per
// token: the parts of a workbook that grow with its rows (worksheets, the
// shared strings) are read with it, since encoding/xml costs about 20 µs a
// row of seven cells, twenty times what loading the same row from CSV costs.
//
// It reads what SpreadsheetML uses: elements (names are returned without
// their namespace prefix), attributes, text, CDATA sections, comments and
// processing instructions; a DOCTYPE is an error. Slices it returns are
// valid until the next call of next.
type xmlScanner struct {
	r    io.Reader
	buf  []byte
	i, n int // buf[i:n] is not read yet
	eof  bool
	err  error
	// off counts the bytes dropped from the front of buf, for errors.
	off int64

	// The token at hand.
	kind  tokKind
	name  []byte // local name of an element
	attrs []byte // a start tag's attributes, raw
	text  []byte // raw text (entities not decoded), or a CDATA section
	cdata bool
	empty bool // <name/>
}

type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
	tokText
)

// maxToken bounds one token (a tag or a run of text): Excel's cells hold at
// most 32,767 characters.
const maxToken = 64 << 20

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, 256<<10)}
}

// more reads more input, keeping what is not read yet. It returns false at
// the end of the input or on an error.
func (s *xmlScanner) more() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.i > 0 {
		s.off += int64(s.i)
		s.n = copy(s.buf, s.buf[s.i:s.n])
		s.i = 0
	}
	if s.n == len(s.buf) {
		if len(s.buf) >= maxToken {
			s.err = fmt.Errorf("an XML token longer than %d MB", maxToken>>20)
			return false
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.n])
		s.buf = nb
	}
	for {
		m, err := s.r.Read(s.buf[s.n:])
		s.n += m
		if err == io.EOF {
			s.eof = true
			return m > 0
		}
		if err != nil {
			s.err = err
			return false
		}
		if m > 0 {
			return true
		}
	}
}

// fail records a syntax error and stops the scanner.
func (s *xmlScanner) fail(msg string) bool {
	if s.err == nil {
		s.err = fmt.Errorf("invalid XML at byte %d: %s", s.off+int64(s.i), msg)
	}
	return false
}

// next reads the next token. It returns false at the end of the document
// or on an error, which s.err then holds.
func (s *xmlScanner) next() bool {
	for {
		if s.err != nil {
			return false
		}
		b := s.buf[s.i:s.n]
		if len(b) == 0 {
			if !s.more() {
				return false
			}
			continue
		}
		if b[0] != '<' {
			j := bytes.IndexByte(b, '<')
			if j < 0 {
				if !s.eof {
					s.more()
					continue
				}
				j = len(b)
			}
			s.kind, s.text, s.cdata = tokText, b[:j], false
			s.i += j
			return true
		}
		if len(b) < 2 {
			if !s.more() {
				return s.fail("unexpected end")
			}
			continue
		}
		switch b[1] {
		case '?':
			if !s.skipPast(b, "?>") {
				return false
			}
			continue
		case '!':
			switch {
			case bytes.HasPrefix(b, []byte("<!--")):
				if !s.skipPast(b, "-->") {
					return false
				}
				continue
			case bytes.HasPrefix(b, []byte("<![CDATA[")):
				j := bytes.Index(b[9:], []byte("]]>"))
				if j < 0 {
					if !s.more() {
						return s.fail("unterminated CDATA section")
					}
					continue
				}
				s.kind, s.text, s.cdata = tokText, b[9:9+j], true
				s.i += 9 + j + 3
				return true
			case len(b) < 9 && !s.eof:
				s.more()
				continue
			}
			return s.fail("DOCTYPE or other declarations are not allowed")
		case '/':
			j := bytes.IndexByte(b, '>')
			if j < 0 {
				if !s.more() {
					return s.fail("unterminated end tag")
				}
				continue
			}
			s.kind, s.name = tokEnd, localName(trimXMLSpace(b[2:j]))
			s.i += j + 1
			return true
		}
		// A start tag: find its '>' outside quoted attribute values.
		j := tagEnd(b)
		if j < 0 {
			if !s.more() {
				return s.fail("unterminated start tag")
			}
			continue
		}
		tag := b[1:j]
		s.empty = len(tag) > 0 && tag[len(tag)-1] == '/'
		if s.empty {
			tag = tag[:len(tag)-1]
		}
		k := 0
		for k < len(tag) && !isXMLSpace(tag[k]) {
			k++
		}
		if k == 0 {
			return s.fail("an element without a name")
		}
		s.kind, s.name, s.attrs = tokStart, localName(tag[:k]), tag[k:]
		s.i += j + 1
		return true
	}
}

// skipPast drops the input up to the end of the first end in b, reading more
// as needed.
func (s *xmlScanner) skipPast(b []byte, end string) bool {
	for {
		if j := bytes.Index(b, []byte(end)); j >= 0 {
			s.i += j + len(end)
			return true
		}
		if !s.more() {
			return s.fail("unterminated " + end)
		}
		b = s.buf[s.i:s.n]
	}
}

// skipElement skips the content of the element just started, up to its end.
func (s *xmlScanner) skipElement() bool {
	if s.empty {
		return true
	}
	depth := 1
	for s.next() {
		switch s.kind {
		case tokStart:
			if !s.empty {
				depth++
			}
		case tokEnd:
			if depth--; depth == 0 {
				return true
			}
		}
	}
	return false
}

// tagEnd returns the index of the '>' that ends the tag at the start of b,
// outside quoted attribute values, or -1.
func tagEnd(b []byte) int {
	j := bytes.IndexByte(b, '>')
	if j < 0 {
		return -1
	}
	// Usually no attribute value holds a '>': the quotes before it pair up.
	if bytes.IndexByte(b[:j], '\'') < 0 && bytes.Count(b[:j], []byte{'"'})%2 == 0 {
		return j
	}
	quote := byte(0)
	for j = 1; j < len(b); j++ {
		c := b[j]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		if c == '"' || c == '\'' {
			quote = c
		} else if c == '>' {
			return j
		}
	}
	return -1
}

// trimXMLSpace drops the white space at the end of b.
func trimXMLSpace(b []byte) []byte {
	for len(b) > 0 && isXMLSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func localName(name []byte) []byte {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// nextAttr splits the first attribute off attrs: its local name and raw
// value. ok is false when there is none left. Attributes are a few bytes
// long, so one pass over them beats the calls of bytes.IndexByte.
func nextAttr(attrs []byte) (name, val, rest []byte, ok bool) {
	i := 0
	for i < len(attrs) && isXMLSpace(attrs[i]) {
		i++
	}
	start, local := i, i
	for i < len(attrs) && attrs[i] != '=' && !isXMLSpace(attrs[i]) {
		if attrs[i] == ':' {
			local = i + 1
		}
		i++
	}
	end := i
	for i < len(attrs) && isXMLSpace(attrs[i]) {
		i++
	}
	if end == start || i == len(attrs) || attrs[i] != '=' {
		return nil, nil, nil, false
	}
	i++
	for i < len(attrs) && isXMLSpace(attrs[i]) {
		i++
	}
	if i == len(attrs) || (attrs[i] != '"' && attrs[i] != '\'') {
		return nil, nil, nil, false
	}
	q := attrs[i]
	i++
	vs := i
	for i < len(attrs) && attrs[i] != q {
		i++
	}
	if i == len(attrs) {
		return nil, nil, nil, false
	}
	return attrs[local:end], attrs[vs:i], attrs[i+1:], true
}

// attr returns the raw value of the attribute whose local name is name.
func attr(attrs []byte, name string) ([]byte, bool) {
	for {
		n, v, rest, ok := nextAttr(attrs)
		if !ok {
			return nil, false
		}
		if string(n) == name {
			return v, true
		}
		attrs = rest
	}
}

// appendText appends text to b, its entities and character references
// decoded; with ooxml, also the _xHHHH_ escapes with which SpreadsheetML
// writes control characters (_x000D_ is a carriage return).
func appendText(b, text []byte, ooxml bool) ([]byte, error) {
	for {
		i := bytes.IndexByte(text, '&')
		u := -1
		if ooxml {
			u = bytes.Index(text, []byte("_x"))
		}
		if i < 0 && u < 0 {
			return append(b, text...), nil
		}
		if u >= 0 && (i < 0 || u < i) {
			if r, ok := ooxmlEscape(text[u:]); ok {
				b = append(b, text[:u]...)
				b = utf8.AppendRune(b, r)
				text = text[u+7:]
			} else {
				b = append(b, text[:u+2]...)
				text = text[u+2:]
			}
			continue
		}
		b = append(b, text[:i]...)
		text = text[i:]
		semi := bytes.IndexByte(text, ';')
		if semi < 0 {
			return b, errors.New("an & that starts no entity")
		}
		ent := text[1:semi]
		switch string(ent) {
		case "lt":
			b = append(b, '<')
		case "gt":
			b = append(b, '>')
		case "amp":
			b = append(b, '&')
		case "quot":
			b = append(b, '"')
		case "apos":
			b = append(b, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return b, fmt.Errorf("unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || !utf8.ValidRune(rune(n)) {
				return b, fmt.Errorf("invalid character reference &%s;", ent)
			}
			b = utf8.AppendRune(b, rune(n))
		}
		text = text[semi+1:]
	}
}

// ooxmlEscape reads _xHHHH_ at the start of b.
func ooxmlEscape(b []byte) (rune, bool) {
	if len(b) < 7 || b[6] != '_' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// prefetchReader reads r ahead in another goroutine, in chunks, so that
// decompressing a worksheet runs beside parsing it: inflating is a fifth of
// the work of loading a workbook.
type prefetchReader struct {
	chunks chan prefetchChunk
	free   chan []byte
	stop   chan struct{}
	cur    []byte
	buf    []byte
	err    error
	done   sync.WaitGroup
}

type prefetchChunk struct {
	b   []byte
	err error
}

func newPrefetchReader(r io.Reader) *prefetchReader {
	const n, size = 4, 256 << 10
	p := &prefetchReader{chunks: make(chan prefetchChunk, n), free: make(chan []byte, n), stop: make(chan struct{})}
	for range n {
		p.free <- make([]byte, size)
	}
	p.done.Go(func() {
		defer close(p.chunks)
		for {
			var b []byte
			select {
			case b = <-p.free:
			case <-p.stop:
				return
			}
			m, err := io.ReadFull(r, b)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case p.chunks <- prefetchChunk{b[:m], err}:
			case <-p.stop:
				return
			}
			if err != nil {
				return
			}
		}
	})
	return p
}

func (p *prefetchReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			p.free <- p.buf[:cap(p.buf)]
			p.buf = nil
		}
		if p.err != nil {
			return 0, p.err
		}
		c, ok := <-p.chunks
		if !ok {
			return 0, io.EOF
		}
		p.buf, p.cur, p.err = c.b, c.b, c.err
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// Close stops reading ahead and waits for the reading goroutine.
func (p *prefetchReader) Close() {
	close(p.stop)
	p.done.Wait()
}
