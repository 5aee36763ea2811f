package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// xcell is one cell of the row at hand.
type xcell struct {
	col      int32 // from 1
	kind     cellKind
	str      string // the text, when it is not in the row's buffer
	off, end int32  // the text in the row's buffer
	inBuf    bool
}

// sheetRows streams the rows of a worksheet. A goroutine scans the sheet
// (and another decompresses it) while the caller loads the rows scanned
// before, so that on more than one core the scanning costs little time.
type sheetRows struct {
	batches chan *rowBatch
	free    chan *rowBatch
	stop    chan struct{}
	done    sync.WaitGroup
	scan    *sheetScan
	closeFn func()

	batch *rowBatch
	pos   int // the next row of batch

	// dimRows is the row count that the sheet's dimension announces.
	dimRows int
	// merges and err are set once the rows have all been read.
	merges []cellRange
	err    error

	// The row at hand: its number and its cells, in column order.
	row   int32
	cells []xcell
	text  string // the texts of the cells that are not shared strings
}

// rowBatch carries rows from the scanning goroutine.
type rowBatch struct {
	rows    []batchRow
	cells   []xcell
	dimRows int
}

type batchRow struct {
	row    int32
	text   string
	lo, hi int // its cells
}

// sheetScan reads the rows of a worksheet, one at a time.
type sheetScan struct {
	wb *workbook
	sc *xmlScanner
	// dimRows is the row count that the sheet's dimension announces.
	dimRows int
	merges  []cellRange
	err     error

	// The row at hand: its number and its cells, in column order.
	row   int32
	cells []xcell
	text  string // the texts of the cells in buf, once the row ends
	buf   []byte
	value []byte // the value of the cell being read
}

// rowsPerBatch is how many rows a batch carries.
const rowsPerBatch = 256

// openSheet starts reading a worksheet.
func (wb *workbook) openSheet(part string) (*sheetRows, error) {
	rc, err := wb.parts[part].Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", part, err)
	}
	pf := newPrefetchReader(rc)
	scan := &sheetScan{wb: wb, sc: newXMLScanner(pf)}
	r := &sheetRows{batches: make(chan *rowBatch, 2), free: make(chan *rowBatch, 4), stop: make(chan struct{}), scan: scan}
	r.closeFn = func() {
		pf.Close()
		rc.Close()
	}
	for range 4 {
		r.free <- &rowBatch{}
	}
	r.done.Go(func() {
		defer close(r.batches)
		for {
			var b *rowBatch
			select {
			case b = <-r.free:
			case <-r.stop:
				return
			}
			b.rows, b.cells = b.rows[:0], b.cells[:0]
			more := true
			for more && len(b.rows) < rowsPerBatch {
				if more = scan.scan(); more {
					lo := len(b.cells)
					b.cells = append(b.cells, scan.cells...)
					b.rows = append(b.rows, batchRow{row: scan.row, text: scan.text, lo: lo, hi: len(b.cells)})
				}
			}
			b.dimRows = scan.dimRows
			select {
			case r.batches <- b:
			case <-r.stop:
				return
			}
			if !more {
				return
			}
		}
	})
	return r, nil
}

// next moves to the next row that has cells. It returns false at the end of
// the rows; r.err then says whether the sheet could not be read.
func (r *sheetRows) next() bool {
	for r.batch == nil || r.pos == len(r.batch.rows) {
		if r.batch != nil {
			r.free <- r.batch
			r.batch = nil
		}
		b, ok := <-r.batches
		if !ok {
			r.merges, r.err = r.scan.merges, r.scan.err
			return false
		}
		r.batch, r.pos, r.dimRows = b, 0, b.dimRows
	}
	br := &r.batch.rows[r.pos]
	r.pos++
	r.row, r.text, r.cells = br.row, br.text, r.batch.cells[br.lo:br.hi]
	return true
}

// Close stops the reading and releases the file.
func (r *sheetRows) Close() error {
	close(r.stop)
	r.done.Wait()
	r.closeFn()
	return nil
}

// scan reads the next row that has cells. It returns false at the end of
// the rows; r.err then says whether the sheet could not be read.
func (r *sheetScan) scan() bool {
	sc := r.sc
	r.cells, r.buf = r.cells[:0], r.buf[:0]
	inRow, inCell, capture, inIS, phonetic := false, false, false, false, 0
	var cell xcell
	var ctype string // the cell's type: copied, since the scanner's buffer moves
	style := 0
	for sc.next() {
		switch sc.kind {
		case tokStart:
			switch string(sc.name) {
			case "row":
				if inRow {
					return r.fail("a row inside a row")
				}
				n := r.row + 1
				if v, ok := attr(sc.attrs, "r"); ok {
					i, err := strconv.Atoi(string(v))
					if err != nil || i < 1 || i > 1<<20 || int32(i) <= r.row {
						return r.fail(fmt.Sprintf("invalid row number %q", v))
					}
					n = int32(i)
				}
				r.row = n
				if sc.empty {
					continue
				}
				inRow = true
			case "c":
				if !inRow {
					return r.fail("a cell outside a row")
				}
				col := int32(1)
				if len(r.cells) > 0 {
					col = r.cells[len(r.cells)-1].col + 1
				}
				ctype, style = "", 0
				attrs := sc.attrs
				for {
					name, v, rest, ok := nextAttr(attrs)
					if !ok {
						break
					}
					attrs = rest
					switch string(name) {
					case "r":
						c, row, ok := parseCellRef(v)
						if !ok || (row != 0 && row != r.row) {
							return r.fail(fmt.Sprintf("invalid cell reference %q in row %d", v, r.row))
						}
						col = c
					case "t":
						ctype = cellType(v)
					case "s":
						style, _ = strconv.Atoi(string(v))
					}
				}
				if len(r.cells) > 0 && col <= r.cells[len(r.cells)-1].col {
					return r.fail(fmt.Sprintf("cell %s%d is out of order", columnName(col), r.row))
				}
				cell = xcell{col: col}
				r.value = r.value[:0]
				inCell = !sc.empty
			case "v":
				capture = inCell && !sc.empty
			case "is":
				inIS = inCell && !sc.empty
			case "t":
				capture = inIS && phonetic == 0 && !sc.empty
			case "rPh":
				if !sc.empty {
					phonetic++
				}
			case "sheetData":
				if sc.empty {
					r.endData()
					return false
				}
			case "dimension":
				if v, ok := attr(sc.attrs, "ref"); ok {
					if rg, ok := parseRange(v); ok {
						r.dimRows = int(rg.r2)
					}
				}
			}
		case tokEnd:
			switch string(sc.name) {
			case "v", "t":
				capture = false
			case "is":
				inIS = false
			case "rPh":
				phonetic--
			case "c":
				if inCell {
					inCell = false
					if r.endCell(&cell, ctype, style) {
						r.cells = append(r.cells, cell)
					}
				}
			case "row":
				if len(r.cells) == 0 {
					inRow = false
					continue
				}
				r.text = string(r.buf)
				return true
			case "sheetData":
				r.endData()
				return false
			}
		case tokText:
			if capture {
				if sc.cdata {
					r.value = append(r.value, sc.text...)
				} else {
					var err error
					if r.value, err = appendText(r.value, sc.text, inIS); err != nil {
						return r.fail(err.Error())
					}
				}
			}
		}
	}
	if sc.err != nil {
		r.err = sc.err
	}
	return false
}

func (r *sheetScan) fail(msg string) bool {
	r.err = errors.New("invalid worksheet: " + msg)
	return false
}

// endData reads what follows the rows, for the merged cells.
func (r *sheetScan) endData() {
	sc := r.sc
	for sc.next() {
		if sc.kind == tokStart && string(sc.name) == "mergeCell" {
			if v, ok := attr(sc.attrs, "ref"); ok {
				if rg, ok := parseRange(v); ok {
					r.merges = append(r.merges, rg)
				}
			}
		}
	}
	if sc.err != nil {
		r.err = sc.err
	}
}

// endCell converts the value of a cell just read, by its type and style. It
// returns false for a cell with no value.
func (r *sheetScan) endCell(c *xcell, ctype string, style int) bool {
	v := r.value
	start := len(r.buf)
	switch ctype {
	case "s":
		i, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		s, ok := r.wb.sharedString(i)
		if err != nil || !ok {
			c.kind, c.str = kInvalid, fmt.Sprintf("it refers to shared string %q, which the workbook does not have", v)
			return true
		}
		if s == "" {
			return false
		}
		c.kind, c.str = kText, s
		return true
	case "str", "inlineStr":
		if len(v) == 0 {
			return false
		}
		r.buf = append(r.buf, v...)
		c.kind = kText
	case "b":
		switch string(bytes.TrimSpace(v)) {
		case "1", "true":
			c.kind, c.str = kBool, "true"
		case "0", "false":
			c.kind, c.str = kBool, "false"
		case "":
			return false
		default:
			c.kind, c.str = kInvalid, fmt.Sprintf("invalid boolean %q", v)
		}
		return true
	case "e":
		c.kind = kError
		r.buf = append(r.buf, v...)
	case "d":
		if len(v) == 0 {
			return false
		}
		t, ok := parseISOCell(string(v))
		if !ok {
			c.kind, c.str = kInvalid, fmt.Sprintf("invalid date %q", v)
			return true
		}
		r.buf, c.kind = appendCellTime(r.buf, t)
	case "", "n":
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			return false
		}
		sk := styleNumber
		if style > 0 && style < len(r.wb.styles) {
			sk = r.wb.styles[style]
		}
		if sk != styleNumber {
			f, err := strconv.ParseFloat(string(v), 64)
			if err == nil && sk == styleTime && 0 <= f && f < 1 {
				secs := time.Duration(math.Round(f*86400)) * time.Second
				r.buf, c.kind = time.Time{}.Add(secs).AppendFormat(r.buf, "15:04:05"), kTime
				break
			}
			t, ok := serialTime(f, r.wb.date1904)
			if err != nil || !ok {
				c.kind, c.str = kInvalid, fmt.Sprintf("%s is not a date of the calendar (a date cell holding a number out of range)", v)
				return true
			}
			r.buf, c.kind = appendCellTime(r.buf, t)
			break
		}
		var ok bool
		if r.buf, c.kind, ok = appendNumber(r.buf, v); !ok {
			c.kind, c.str = kInvalid, fmt.Sprintf("invalid number %q", v)
			return true
		}
	default:
		c.kind, c.str = kInvalid, fmt.Sprintf("unknown cell type %q", ctype)
		return true
	}
	c.off, c.end, c.inBuf = int32(start), int32(len(r.buf)), true
	return true
}

// cellType returns the type attribute of a cell as one of the constant
// strings of the types, without allocating.
func cellType(v []byte) string {
	for _, t := range [...]string{"s", "n", "b", "str", "inlineStr", "e", "d"} {
		if string(v) == t {
			return t
		}
	}
	return string(v)
}

// cellText returns cell c's text.
func (r *sheetRows) cellText(c *xcell) string {
	if c.inBuf {
		return r.text[c.off:c.end]
	}
	return c.str
}

// appendNumber appends a number's canonical text: the digits of a whole
// number, the shortest decimal that reads back as the same float otherwise.
func appendNumber(b, v []byte) ([]byte, cellKind, bool) {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) > 0 && len(d) <= 15 && (d[0] != '0' || len(d) == 1) && digits(string(d)) {
		return append(b, v...), kNumber, true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return b, 0, false
	}
	if f == math.Trunc(f) {
		if math.Abs(f) < 1e15 {
			return strconv.AppendInt(b, int64(f), 10), kNumber, true
		}
		return strconv.AppendFloat(b, f, 'f', -1, 64), kBigNumber, true
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), kNumber, true
}

// serialTime converts a spreadsheet's date serial number: days since the
// workbook's epoch, the fraction being the time of day. In the 1900 date
// system, Excel counts a 29 February 1900 that never was (serial 60), as
// Lotus 1-2-3 did: serials before it are one day off.
func serialTime(v float64, date1904 bool) (time.Time, bool) {
	if math.IsNaN(v) || v < 0 || v >= 2958466 { // 10000-01-01
		return time.Time{}, false
	}
	days := math.Floor(v)
	secs := math.Round((v - days) * 86400)
	var base time.Time
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case days == 60:
		return time.Time{}, false
	case days < 60:
		if days < 1 && secs == 0 {
			return time.Time{}, false // 0 January 1900
		}
		base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		base = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	}
	return base.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), true
}

// parseISOCell reads the value of a cell of type d: an ISO 8601 date or
// date and time.
func parseISOCell(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Round(time.Second), true
		}
	}
	return time.Time{}, false
}

// appendCellTime appends a date cell's canonical text: YYYY-MM-DD at
// midnight, RFC 3339 otherwise (a spreadsheet's dates have no time zone:
// they are read as UTC).
func appendCellTime(b []byte, t time.Time) ([]byte, cellKind) {
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.AppendFormat(b, "2006-01-02"), kDate
	}
	return t.AppendFormat(b, time.RFC3339), kDateTime
}

// parseCellRef reads a cell reference (C5) or a column (C): its column
// and its row, 0 when it has none.
func parseCellRef(b []byte) (col, row int32, ok bool) {
	i := 0
	for i < len(b) && i < 4 && 'A' <= (b[i]&^0x20) && (b[i]&^0x20) <= 'Z' {
		col = col*26 + int32(b[i]&^0x20-'A'+1)
		i++
	}
	if i == 0 || col > 16384 {
		return 0, 0, false
	}
	for ; i < len(b); i++ {
		if !isDigit(b[i]) || row > 1<<20 {
			return 0, 0, false
		}
		row = row*10 + int32(b[i]-'0')
	}
	return col, row, true
}

// parseRange reads A1:B2, or a single cell.
func parseRange(b []byte) (cellRange, bool) {
	b = bytes.ReplaceAll(b, []byte("$"), nil)
	from, to, found := bytes.Cut(b, []byte(":"))
	if !found {
		to = from
	}
	c1, r1, ok1 := parseCellRef(from)
	c2, r2, ok2 := parseCellRef(to)
	if !ok1 || !ok2 || r1 == 0 || r2 == 0 {
		return cellRange{}, false
	}
	return cellRange{min(c1, c2), min(r1, r2), max(c1, c2), max(r1, r2)}, true
}

// columnName returns a column's letters: 1 is A, 27 is AA.
func columnName(col int32) string {
	var b [4]byte
	i := len(b)
	for col > 0 && i > 0 {
		col--
		i--
		b[i] = byte('A' + col%26)
		col /= 26
	}
	return string(b[i:])
}
