package manifest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/internal/prefault"
)

// A CSV's rows are loaded by a pipeline: one goroutine reads the records
// into batches, workers turn each batch into customers and diagnostics,
// and the loader's goroutine takes the batches in file order, adding the
// customers (duplicate ids are found in file order) and the diagnostics
// exactly as reading the rows one by one would.

// csvWorkers is how many goroutines turn batches into customers (0:
// GOMAXPROCS), csvBatchRows how many records a batch holds, and
// csvPlainLines whether the reader splits lines without quotes itself
// (rowReader). Tests set them to compare configurations.
var (
	csvWorkers    = 0
	csvBatchRows  = 1024
	csvPlainLines = true
)

// batchBytes bounds the text of a batch, and so the memory of the batches
// in flight, whatever the size of the rows: a batch ends with the record
// that passes it.
const batchBytes = 1 << 20

// fieldPos is where csv.Reader found a cell (Reader.FieldPos): the line and
// the byte column where it starts, from 1.
type fieldPos struct{ line, col int32 }

// appendFieldPos appends the positions of the n cells of the record that r
// read last.
func appendFieldPos(pos []fieldPos, r *csv.Reader, n int) []fieldPos {
	for i := range n {
		line, col := r.FieldPos(i)
		pos = append(pos, fieldPos{int32(line), int32(col)})
	}
	return pos
}

// csvBatch is a run of records of a CSV: what the reader captured, then
// what a worker made of it.
//
// The reader copies the records' cells into text, one after the other,
// rather than keeping the strings csv.Reader makes: the worker turns text
// into one string, of which the customers' ids and values are substrings.
// A million rows then hold a few hundred strings, not a million, which the
// garbage collector marks at a fraction of the cost; and their copies
// hold no pointers, so that copying them needs no write barrier. The
// cells of the columns whose values never hold their text (table.keep)
// go to scratch instead, whose string is dropped with the batch.
type csvBatch struct {
	recs    []csvRec
	text    []byte
	scratch []byte
	ends    []int32    // where each cell ends, in text or scratch
	pos     []fieldPos // where each cell is in the file
	errs    []error

	// out has what each record gave, and diags their diagnostics, in
	// order: out[i].diags of them for record i.
	out   []rowOut
	diags engine.Diagnostics
	done  chan struct{}
}

// csvRec is one record of a batch: the cells that ends[at:at+n] and
// pos[at:at+n] describe, or, when n is -1, the read error errs[at].
type csvRec struct{ at, n int32 }

// addCell appends cell i of a record to b.
func addCell[C string | []byte](b *csvBatch, keep []bool, i int, cell C) {
	if i < len(keep) && keep[i] {
		b.text = append(b.text, cell...)
		b.ends = append(b.ends, int32(len(b.text)))
	} else {
		b.scratch = append(b.scratch, cell...)
		b.ends = append(b.ends, int32(len(b.scratch)))
	}
}

// full reports whether b holds as many records as it may.
func (b *csvBatch) full(rows int) bool {
	return len(b.recs) >= rows || len(b.text)+len(b.scratch) >= batchBytes
}

// rowOut is what a record gave.
type rowOut struct {
	c     *engine.Customer // to add, or nil
	key   string           // c's id folded to lower case
	hash  uint64           // key's (idIndex.hash)
	diags int32
	kind  rowKind
}

type rowKind uint8

const (
	rowEmpty   rowKind = iota // a row whose cells are all blank: ignored
	rowCounted                // a row, or a read error reading goes on after
	rowStop                   // reading stops here, after its diagnostics
)

// readFatal reports whether a read error stops reading (table.readError
// returns false for it).
func readFatal(err error) bool {
	var pe *csv.ParseError
	var long *errRecordTooLong
	return errors.As(err, &long) || !errors.As(err, &pe)
}

// rowReader reads the records of a CSV after its header. It splits the
// usual line, one without quotes, itself, as csv.Reader would, without
// making a string of it; any other record it leaves to csv.Reader, which
// reads the same bufio.Reader (csv.NewReader uses a bufio.Reader as it is),
// so that neither reads ahead of the other. csv.Reader numbers only the
// lines it reads: base is how many lines rowReader read, which are added
// to its line numbers.
type rowReader struct {
	br    *bufio.Reader
	r     *csv.Reader
	keep  []bool // table.keep
	comma byte
	line  int32 // the lines read so far, by either
	base  int32 // the lines rowReader read
}

// newRowReader returns a rowReader of the records after the header that r
// read from br, whose last cell starts on line lastLine.
func newRowReader(br *bufio.Reader, r *csv.Reader, keep []bool, header []string, lastLine int) *rowReader {
	return &rowReader{br: br, r: r, keep: keep, comma: byte(r.Comma), line: int32(lastLine + strings.Count(header[len(header)-1], "\n"))}
}

// fill reads up to rows records, and up to about batchBytes of them, into
// b, and reports whether reading is over: the end of the file, or an error
// that stops it.
func (rr *rowReader) fill(b *csvBatch, rows int) bool {
	b.recs, b.text, b.scratch, b.ends, b.pos, b.errs = b.recs[:0], b.text[:0], b.scratch[:0], b.ends[:0], b.pos[:0], b.errs[:0]
	for !b.full(rows) {
		if csvPlainLines && rr.plainLines(b, rows) {
			continue
		}
		rec, err := rr.r.Read()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rr.line = int32(pe.Line) + rr.base
				err = &csv.ParseError{StartLine: pe.StartLine + int(rr.base), Line: pe.Line + int(rr.base), Column: pe.Column, Err: pe.Err}
			}
			b.recs = append(b.recs, csvRec{at: int32(len(b.errs)), n: -1})
			b.errs = append(b.errs, err)
			if readFatal(err) {
				return true
			}
			continue
		}
		b.recs = append(b.recs, csvRec{at: int32(len(b.ends)), n: int32(len(rec))})
		for i, c := range rec {
			addCell(b, rr.keep, i, c)
		}
		at := len(b.pos)
		b.pos = appendFieldPos(b.pos, rr.r, len(rec))
		for i := at; i < len(b.pos); i++ {
			b.pos[i].line += rr.base
		}
		// The record ends on the line its last cell starts on, after the
		// line breaks inside that cell (csv.Reader turns each into \n).
		rr.line = b.pos[len(b.pos)-1].line + int32(strings.Count(rec[len(rec)-1], "\n"))
	}
	return false
}

// plainLines reads the lines in the buffer that hold no quote, up to the
// batch's bounds, and reports whether it read any. Like csv.Reader, it
// drops the \r of a \r\n and skips empty lines; it leaves a line whose
// end is not in the buffer (a long one, the last of the file) to
// csv.Reader.
func (rr *rowReader) plainLines(b *csvBatch, rows int) bool {
	buf, _ := rr.br.Peek(rr.br.Buffered())
	if bytes.IndexByte(buf, '\n') < 0 {
		buf, _ = rr.br.Peek(rr.br.Size()) // read more; an error is csv.Reader's to report
	}
	// The batch's slices, in locals while they grow: storing them in b at
	// every cell would take write barriers.
	recs, text, scratch, ends, pos := b.recs, b.text, b.scratch, b.ends, b.pos
	read := 0
	for len(recs) < rows && len(text)+len(scratch) < batchBytes {
		nl := bytes.IndexByte(buf[read:], '\n')
		if nl < 0 {
			break
		}
		line := buf[read : read+nl]
		if bytes.IndexByte(line, '"') >= 0 {
			break
		}
		read += nl + 1
		rr.line++
		rr.base++
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		at := len(ends)
		for col := 1; ; {
			i := bytes.IndexByte(line, rr.comma)
			cell := line
			if i >= 0 {
				cell = line[:i]
			}
			if k := len(ends) - at; k < len(rr.keep) && rr.keep[k] {
				text = append(text, cell...)
				ends = append(ends, int32(len(text)))
			} else {
				scratch = append(scratch, cell...)
				ends = append(ends, int32(len(scratch)))
			}
			pos = append(pos, fieldPos{rr.line, int32(col)})
			if i < 0 {
				break
			}
			line = line[i+1:]
			col += i + 1
		}
		recs = append(recs, csvRec{at: int32(at), n: int32(len(ends) - at)})
	}
	b.recs, b.text, b.scratch, b.ends, b.pos = recs, text, scratch, ends, pos
	rr.br.Discard(read)
	return read > 0
}

// readRows loads the rows after the header.
func (t *table) readRows(rr *rowReader) {
	l := t.l
	workers, batchRows := csvWorkers, max(csvBatchRows, 1)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// The batches, reused: the reader fills a free one, the workers and
	// the loader take it in turn, and the loader frees it. One for the
	// reader, one for each worker and one for the loader keep everyone
	// busy.
	depth := workers + 2
	free := make(chan *csvBatch, depth)
	for range depth {
		free <- &csvBatch{done: make(chan struct{}, 1)}
	}
	work := make(chan *csvBatch, depth)
	order := make(chan *csvBatch, depth)
	quit := make(chan struct{})
	l.ids.init() // the workers hash ids

	go func() {
		defer close(work)
		defer close(order)
		for done := false; !done; {
			var b *csvBatch
			select {
			case b = <-free:
			case <-quit:
				return
			}
			done = rr.fill(b, batchRows)
			order <- b
			work <- b
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		w := t.worker()
		wg.Go(func() {
			for b := range work {
				w.convert(b)
				b.done <- struct{}{}
			}
		})
	}

	rows := 0
	stopped := false
	for b := range order {
		<-b.done
		if !stopped && l.merge(b, &rows) {
			stopped = true
			close(quit) // the batches still in flight are dropped
		}
		free <- b
	}
	wg.Wait()
	if !stopped && rows == 0 {
		l.add(engine.Error, engine.Pos{File: t.file}, "empty manifest: a header row and no customers", "")
	}
}

// worker returns a copy of t for a worker: the row at hand is its own, and
// so are the loader's blocks of customers and fields and its diagnostics.
func (t *table) worker() *table {
	w := *t
	w.l = &loader{sc: t.l.sc, ids: idIndex{seed: t.l.ids.seed, seeded: true}}
	w.recBuf = make([]string, 0, len(t.header))
	w.bad = nil
	return &w
}

// convert turns the records of b into customers and diagnostics, as
// reading them one by one does.
func (t *table) convert(b *csvBatch) {
	l := t.l
	l.diags = b.diags[:0]
	out := b.out[:0] // in a local while it grows, as in plainLines
	text, scratch := keptText(b.text), string(b.scratch)
	var kept, dropped int32 // where the next cell starts in each
	// A batch of ASCII, the usual, needs no row checked for UTF-8.
	checkUTF8 := t.checkUTF8 && !(isASCII(b.text) && isASCII(b.scratch))
	for _, rec := range b.recs {
		n := len(l.diags)
		o := rowOut{kind: rowCounted}
		switch {
		case rec.n < 0:
			if !t.readError(b.errs[rec.at]) {
				o.kind = rowStop
			}
		default:
			cells := t.recBuf[:0]
			for i, end := range b.ends[rec.at : rec.at+rec.n] {
				if i < len(t.keep) && t.keep[i] {
					cells = append(cells, text[kept:end])
					kept = end
				} else {
					cells = append(cells, scratch[dropped:end])
					dropped = end
				}
			}
			t.recBuf = cells
			t.rec, t.fpos = cells, b.pos[rec.at:rec.at+rec.n]
			switch {
			case emptyRow(t.rec):
				o.kind = rowEmpty
			case checkUTF8 && !validCells(t.rec):
				t.invalidUTF8(int(t.fpos[0].line))
				o.kind = rowStop
			case len(t.rec) != len(t.header):
				l.add(engine.Error, engine.Pos{File: t.file, Line: t.fpos[0].line, Col: 1},
					fmt.Sprintf("row has %d cells, but the header has %d", len(t.rec), len(t.header)),
					"every row needs one cell per column; quote cells that hold the delimiter")
			default:
				if c := t.row(); c != nil {
					o.c, o.key = c, foldID(c.ID)
					o.hash = l.ids.hash(o.key)
				}
			}
		}
		o.diags = int32(len(l.diags) - n)
		out = append(out, o)
	}
	b.out = out
	b.diags, l.diags = l.diags, nil
	t.rec, t.fpos = nil, nil
}

// keptText returns a copy of b as a string, its memory mapped in one call
// (see Prefault in load.go): the customers' ids and values are its
// substrings.
func keptText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	buf := make([]byte, len(b))
	prefault.Slice(buf)
	copy(buf, b)
	return unsafe.String(&buf[0], len(buf))
}

// isASCII reports whether b holds only ASCII bytes.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// merge adds what batch b gave, in order, counting its rows, and reports
// whether reading stops there.
func (l *loader) merge(b *csvBatch, rows *int) bool {
	// Touch the id index where each id goes, so that the cache misses
	// overlap.
	var sum uint64
	for i := range b.out {
		if b.out[i].c != nil {
			sum += l.ids.touch(b.out[i].hash)
		}
	}
	l.touched += sum
	d := 0
	for i := range b.out {
		o := &b.out[i]
		if o.diags > 0 {
			l.diags = append(l.diags, b.diags[d:d+int(o.diags)]...)
			d += int(o.diags)
		}
		switch o.kind {
		case rowEmpty:
			continue
		case rowStop:
			return true
		}
		*rows++
		if o.c != nil {
			l.addCustomerHashed(o.c, o.key, o.hash)
		}
	}
	return false
}
