package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/reconcile-dev/reconcile/engine"
)

const (
	// MaxLineBytes bounds one line of a state file; a longer line is an
	// error rather than an unbounded allocation.
	MaxLineBytes = 16 << 20
	// maxHeaderBytes bounds the header line, which is short: a longer first
	// line means the file is something else.
	maxHeaderBytes = 64 << 10
	// blockBytes is how much the reader hands a decoder at a time.
	blockBytes = 1 << 20
)

// header is the first line of a state file.
type header struct {
	Lineage   string
	Serial    int64
	Resources int64
}

// AppendHeader appends the header line of s (without a newline).
func appendHeader(b []byte, s *engine.State) []byte {
	b = append(b, `{"format_version":`...)
	b = strconv.AppendQuote(b, engine.StateFormatVersion)
	b = append(b, `,"lineage":`...)
	b = strconv.AppendQuote(b, s.Lineage)
	b = append(b, `,"serial":`...)
	b = strconv.AppendInt(b, s.Serial, 10)
	b = append(b, `,"resources":`...)
	b = strconv.AppendInt(b, int64(len(s.Resources)), 10)
	return append(b, '}')
}

// parseHeader decodes the first line. peek is the start of the file, to
// recognise what else it might be.
func parseHeader(line, peek []byte) (header, *lineError) {
	var h header
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return h, &lineError{msg: "the first line is blank; a state starts with a header line"}
	}
	if err := checkText(line); err != nil {
		return h, &lineError{msg: "not a reconcile state: binary data"}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&raw); err != nil {
		return h, &lineError{msg: "not a reconcile state: " + whatIsIt(trimmed, peek)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, &lineError{col: int(dec.InputOffset()) + 1, msg: "unexpected data after the header object"}
	}
	v, ok := raw["format_version"]
	if !ok {
		if _, ok := raw["address"]; ok {
			return h, &lineError{msg: "no header line: the first line is a resource"}
		}
		return h, &lineError{msg: `header has no "format_version"`}
	}
	var version string
	if err := json.Unmarshal(v, &version); err != nil {
		return h, &lineError{msg: fmt.Sprintf("format_version must be a string such as %q, not %s", engine.StateFormatVersion, v)}
	}
	if version != engine.StateFormatVersion {
		return h, &lineError{msg: fmt.Sprintf("format version %q: this build of reconcile reads format version %q only; upgrade reconcile", version, engine.StateFormatVersion)}
	}
	for key := range raw {
		switch key {
		case "format_version", "lineage", "serial", "resources":
		default:
			return h, &lineError{msg: fmt.Sprintf("unknown header key %q", key)}
		}
	}
	v, ok = raw["lineage"]
	if !ok {
		return h, &lineError{msg: `header has no "lineage"`}
	}
	if err := json.Unmarshal(v, &h.Lineage); err != nil || !validLineage(h.Lineage) {
		return h, &lineError{msg: fmt.Sprintf("lineage %s is not a UUID", v)}
	}
	for _, f := range [...]struct {
		key string
		dst *int64
	}{{"serial", &h.Serial}, {"resources", &h.Resources}} {
		v, ok := raw[f.key]
		if !ok {
			return h, &lineError{msg: fmt.Sprintf("header has no %q", f.key)}
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return h, &lineError{msg: fmt.Sprintf("%s %s is not a non-negative integer", f.key, v)}
		}
		*f.dst = n
	}
	return h, nil
}

// validLineage reports whether s is a UUID in its usual 36-character form.
func validLineage(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// whatIsIt guesses what a file that does not start with a header line is.
func whatIsIt(first, peek []byte) string {
	switch {
	case bytes.Equal(first, []byte("{")) && bytes.Contains(peek, []byte(`"terraform_version"`)):
		return "this is a Terraform state"
	case bytes.Equal(first, []byte("{")) || bytes.Equal(first, []byte("[")):
		return "the first line is not a header line (a JSON document spread over several lines?)"
	case first[0] == '<':
		return fmt.Sprintf("it looks like HTML or XML (it starts with %q)", truncate(first, 40))
	}
	return fmt.Sprintf("the first line is not a JSON header line (it starts with %q)", truncate(first, 40))
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// Read decodes a state in the file format from r; name is the file name for
// messages. A malformed input gives a *CorruptError. known lists the
// services whose addresses the state may hold; with none, any well-formed
// service name is read.
func Read(ctx context.Context, r io.Reader, name string, known ...string) (*engine.State, error) {
	return read(ctx, r, name, -1, known)
}

// chunk is a run of whole lines for a decoder.
type chunk struct {
	buf       []byte
	firstLine int
	last      bool // ends the input: its last line may lack a newline
	seq       int  // the chunk's place in the input, from 0
	res       chan chunkResult
}

type chunkResult struct {
	entries []engine.Entry
	addrs   []string
	lines   []int32 // line of each entry
	err     error   // the chunk's first problem, after its entries
	// for a scan (scan.go): how many entries the chunk holds before err,
	// the first and last of their addresses, and whether they were out of
	// address order
	n           int
	first, last string
	unsorted    bool
	// what is wrong with the line err is about, without the note that a
	// last line without newline means a truncated file
	what string
}

var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, blockBytes); return &b }}

// read decodes a state. size is the input's size when known, or -1, to
// size the map without trusting a header's count blindly.
//
// The chunks are decoded in parallel (pipeline), and the calling goroutine
// adds the entries to the map in file order, so the first bad line in the
// file is the one reported.
func read(ctx context.Context, r io.Reader, name string, size int64, known []string) (*engine.State, error) {
	br := &blockReader{r: r, name: name}
	first, err := br.header()
	if err != nil {
		return nil, err
	}
	h, lerr := parseHeader(first, br.peek())
	if lerr != nil {
		return nil, &CorruptError{Path: name, Line: 1, Col: lerr.col, Msg: lerr.msg}
	}

	hint := h.Resources
	if size >= 0 {
		hint = min(hint, size/32) // the shortest line is about 30 bytes
	}
	s := &engine.State{Lineage: h.Lineage, Serial: h.Serial, Resources: make(map[string]*engine.Entry, min(hint, 1<<24))}

	// spare passes the per-chunk slices the collector is done with back to
	// the decoders: less garbage, fewer fresh pages.
	spare := make(chan chunkResult, 4*runtime.GOMAXPROCS(0))
	order, stop := br.pipeline(func() func(*chunk) chunkResult {
		p := newLineParser(known)
		return func(c *chunk) chunkResult { return p.parseChunk(c, name, spare) }
	})
	defer stop()

	var count int64
	for c := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := <-c.res
		if c.buf != nil && cap(c.buf) == blockBytes {
			b := c.buf[:0]
			blockPool.Put(&b)
		}
		for i := range res.entries {
			addr := res.addrs[i]
			if count == h.Resources {
				return nil, &CorruptError{Path: name, Line: int(res.lines[i]), Msg: "unexpected content after " + announced(h.Resources)}
			}
			if s.Resources[addr] = &res.entries[i]; int64(len(s.Resources)) == count {
				return nil, &CorruptError{Path: name, Line: int(res.lines[i]), Msg: fmt.Sprintf("address %q appears twice", addr)}
			}
			count++
		}
		select {
		case spare <- chunkResult{addrs: res.addrs[:0], lines: res.lines[:0]}:
		default:
		}
		if res.err != nil {
			var ce *CorruptError
			if count == h.Resources && res.what != "" && errors.As(res.err, &ce) {
				ce.Msg = "unexpected content after " + announced(h.Resources) + ": " + res.what
			}
			return nil, res.err
		}
	}
	if count < h.Resources {
		// The message words the usual cause: a header written whole and
		// lines lost after it.
		return nil, &CorruptError{Path: name, Msg: fmt.Sprintf("the file is truncated: the header announces %d resources, the file holds %d", h.Resources, count)}
	}
	return s, nil
}

// pipeline starts the decoding of the input after the header: one
// goroutine reads blocks of whole lines, GOMAXPROCS goroutines decode them,
// each with its own function from newWork, and the chunks come out of order
// in file order, each with its result to come on res. stop ends the
// goroutines and waits for them.
func (br *blockReader) pipeline(newWork func() func(*chunk) chunkResult) (order <-chan *chunk, stop func()) {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { br.run(work, ordered, done) })
	for range workers {
		wg.Go(func() {
			do := newWork()
			for c := range work {
				select {
				case <-done:
					c.res <- chunkResult{}
				default:
					c.res <- do(c)
				}
			}
		})
	}
	return ordered, func() {
		close(done)
		wg.Wait()
	}
}

// announced says how many resources the header announces.
func announced(n int64) string {
	if n == 1 {
		return "the 1 resource the header announces"
	}
	return fmt.Sprintf("the %d resources the header announces", n)
}

// parseChunk decodes the lines of c into entries.
func (p *lineParser) parseChunk(c *chunk, name string, spare chan chunkResult) chunkResult {
	var res chunkResult
	select {
	case res = <-spare:
	default:
	}
	res.what, res.err = p.parseLines(c, name)
	res.entries, res.addrs = p.materialize(res.addrs)
	for _, r := range p.recs {
		res.lines = append(res.lines, r.Line)
	}
	return res
}

// parseLines decodes the lines of c into p's records, up to the first bad
// line: what is wrong with it, without the note that a last
// line without newline means a truncated file, and its error.
func (p *lineParser) parseLines(c *chunk, name string) (string, error) {
	p.reset()
	p.lazy.start(c, name)
	data, n := c.buf, c.firstLine
	for len(data) > 0 {
		off := len(c.buf) - len(data)
		line, rest, found := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !blank(line) {
			if c.last && !found {
				p.lazy.cut = n
			}
			if p.lazy.on && p.lightLine(line, off, n) {
				n++
				continue
			}
			if err := p.parseLine(line, n); err != nil {
				return err.msg, corruptLine(name, n, err, c.last && !found)
			}
		}
		n++
	}
	return "", nil
}

// corruptLine is what a scan or a load says of line n: err, and when the
// line is the last one and has no newline, that the file is truncated.
func corruptLine(name string, n int, err *lineError, cut bool) *CorruptError {
	msg := err.msg
	if cut {
		msg = "the last line is incomplete (" + msg + "): the file is truncated"
	}
	return &CorruptError{Path: name, Line: n, Col: err.col, Msg: msg}
}

// blank reports whether a line holds nothing but JSON whitespace; blank
// lines are skipped.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// blockReader cuts the input into blocks of whole lines.
type blockReader struct {
	r    io.Reader
	name string
	buf  []byte // read but not yet handed out
	eof  bool
	line int // number of the first line in buf
}

// fill reads into buf's free capacity until it is full or the input ends.
func (br *blockReader) fill() error {
	for len(br.buf) < cap(br.buf) && !br.eof {
		n, err := br.r.Read(br.buf[len(br.buf):cap(br.buf)])
		br.buf = br.buf[:len(br.buf)+n]
		if err == io.EOF {
			br.eof = true
		} else if err != nil {
			return fmt.Errorf("reading state %s: %w", br.name, err)
		}
	}
	return nil
}

// grow makes room for a line longer than buf, up to limit bytes.
func (br *blockReader) grow(limit int) bool {
	if cap(br.buf) >= limit {
		return false
	}
	nb := make([]byte, len(br.buf), min(2*cap(br.buf), limit))
	copy(nb, br.buf)
	br.buf = nb
	return true
}

// header returns the first line, without its newline.
func (br *blockReader) header() ([]byte, error) {
	br.buf = make([]byte, 0, 64<<10)
	br.line = 1
	for {
		if err := br.fill(); err != nil {
			return nil, err
		}
		if len(br.buf) == 0 {
			return nil, &CorruptError{Path: br.name, Msg: "empty file: not a reconcile state (a missing file is an empty state, an empty file is an error)"}
		}
		if i := bytes.IndexByte(br.buf, '\n'); i >= 0 || br.eof {
			if i < 0 {
				i = len(br.buf)
			}
			first := br.buf[:i]
			br.buf = br.buf[min(i+1, len(br.buf)):]
			br.line = 2
			return first, nil
		}
		if !br.grow(maxHeaderBytes) {
			msg := fmt.Sprintf("not a reconcile state: the first line is longer than %d KiB", maxHeaderBytes>>10)
			if checkText(br.buf) != nil {
				msg = "not a reconcile state: binary data"
			}
			return nil, &CorruptError{Path: br.name, Line: 1, Msg: msg}
		}
	}
}

// peek returns what the reader holds after the first line.
func (br *blockReader) peek() []byte { return br.buf }

// run hands out chunks of whole lines until the input ends, each to order
// (in file order) and to work (to be decoded).
func (br *blockReader) run(work, order chan<- *chunk, stop <-chan struct{}) {
	defer close(order)
	defer close(work)
	send := func(c *chunk) bool {
		select {
		case order <- c:
		case <-stop:
			return false
		}
		select {
		case work <- c:
			return true
		case <-stop:
			return false
		}
	}
	// fail reports a problem the reader found in its place in file order.
	fail := func(err error) {
		c := &chunk{res: make(chan chunkResult, 1)}
		c.res <- chunkResult{err: err}
		select {
		case order <- c:
		case <-stop:
		}
	}
	if cap(br.buf) < blockBytes { // the rest of the header's small buffer
		next := *blockPool.Get().(*[]byte)
		br.buf = append(next[:0], br.buf...)
	}
	seq := 0
	for {
		if err := br.fill(); err != nil {
			fail(err)
			return
		}
		if len(br.buf) == 0 {
			return
		}
		end := bytes.LastIndexByte(br.buf, '\n') + 1
		if end == 0 && !br.eof {
			if !br.grow(MaxLineBytes + 1) {
				fail(&CorruptError{Path: br.name, Line: br.line, Msg: fmt.Sprintf("line longer than %d MiB", MaxLineBytes>>20)})
				return
			}
			continue
		}
		if br.eof {
			end = len(br.buf)
		}
		c := &chunk{buf: br.buf[:end], firstLine: br.line, last: br.eof, seq: seq, res: make(chan chunkResult, 1)}
		seq++
		br.line += bytes.Count(c.buf, []byte{'\n'})
		next := *blockPool.Get().(*[]byte)
		if rest := br.buf[end:]; len(rest) > cap(next) {
			next = make([]byte, 0, min(2*len(rest), MaxLineBytes+1))
		}
		br.buf = append(next[:0], br.buf[end:]...)
		if !send(c) || c.last {
			return
		}
	}
}
