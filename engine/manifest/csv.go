package manifest

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"

	"github.com/reconcile-dev/reconcile/engine"
)

// table is one CSV being read: its columns and the row at hand.
type table struct {
	l    *loader
	file string  // Pos.File
	src  *source // nil for a CSV named as a manifest
	// xl is set for a worksheet.
	xl *xlsxTable
	// checkUTF8 is set unless the file is decoded from another encoding,
	// whose decoder makes valid UTF-8.
	checkUTF8 bool

	header     []string // trimmed
	headerLine int
	idCol      int
	idSlot     slot
	// slots are the keys a row can set, sorted by path, so that a row's
	// fields come out sorted with no sort per row.
	slots []slot
	// nDefOnly counts the slots that only a default fills.
	nDefOnly int
	// base is the Managed bits that defaults give every row.
	base uint64
	// colOf maps a path to its column, to place diagnostics.
	colOf map[string]int
	// rules are the record rules that rows with these columns may break.
	rules ruleSet
	// noProviders is set when no column or default belongs to a provider;
	// that is reported once, not on every row.
	noProviders bool

	// keep says, by column, whether the customers may hold the text of
	// its cells: the id's do, a boolean's or an enum's never do (their
	// values are constants), nor do those of a column no key reads.
	keep []bool

	// The row at hand: its cells and, in a CSV, where the reader found
	// them (csv.Reader.FieldPos); its customer; the paths of its rejected
	// values.
	rec    []string
	fpos   []fieldPos
	recBuf []string // holds rec for a CSV's worker
	cur    *engine.Customer
	bad    []string
}

// slot is one key a row can set: from a column, a default, or both.
type slot struct {
	col    int // -1: only a default
	key    *engine.Key
	path   string // interned: the schema's string
	label  string // the column's heading, the prefix of its diagnostics
	bit    uint64 // the Managed bit of the key's provider, 0 for shared keys
	def    engine.Value
	hasDef bool
	// dateFmt reads the dates of a column whose dates are not YYYY-MM-DD.
	dateFmt *dateFormat
}

const bufSize = 1 << 20

// readCSV reads a CSV manifest with canonical headers, or, when src is not
// nil, a sources file with the headings src maps.
func (l *loader) readCSV(path string, src *source) {
	f, _, err := openRegular(path)
	if err != nil {
		if src != nil {
			l.add(engine.Error, src.manifestPos(), src.label+".file: "+path+": "+pathError(err), "")
		} else {
			l.add(engine.Error, engine.Pos{File: path}, pathError(err), "")
		}
		return
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	br := bufio.NewReaderSize(f, bufSize)
	t := &table{l: l, file: path, src: src, checkUTF8: true}
	var enc encoding.Encoding
	if src != nil {
		enc = src.enc
	}
	bom, _ := br.Peek(3)
	switch {
	case isUTF16(enc):
	case bytes.HasPrefix(bom, []byte("\xef\xbb\xbf")):
		br.Discard(3)
		if enc != nil {
			l.add(engine.Warning, engine.Pos{File: path}, "starts with a UTF-8 byte order mark, but is read as "+src.encoding,
				"if the file is UTF-8, drop encoding: "+src.encoding+" from "+src.label+" in "+src.manifest)
		}
	case bytes.HasPrefix(bom, []byte("\xff\xfe")) || bytes.HasPrefix(bom, []byte("\xfe\xff")):
		hint := "save the file as UTF-8 (CSV UTF-8 in Excel), or read it through a manifest's sources entry with encoding: UTF-16"
		if src != nil {
			hint = "add encoding: UTF-16 to " + src.label + " in " + src.manifest
		}
		l.add(engine.Error, engine.Pos{File: path}, "UTF-16 is not supported without encoding: UTF-16", hint)
		return
	}
	if enc != nil {
		br = bufio.NewReaderSize(transform.NewReader(br, enc.NewDecoder()), bufSize)
		if b, _ := br.Peek(3); bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
			br.Discard(3) // the byte order mark of UTF-16LE or UTF-16BE, which keep it
		}
		t.checkUTF8 = false
	}
	if head, _ := br.Peek(64 << 10); bytes.IndexByte(head, 0) >= 0 {
		// Text has no NUL bytes: this is a spreadsheet in a binary format
		// (.xlsx, .xls) or some other file, and its cells would only make
		// confusing messages.
		i := bytes.IndexByte(head, 0)
		line := 1 + bytes.Count(head[:i], []byte{'\n'})
		l.add(engine.Error, engine.Pos{File: path, Line: int32(line), Col: int32(i - bytes.LastIndexByte(head[:i], '\n'))},
			"not a CSV file: binary data (NUL bytes)", "export the spreadsheet as CSV UTF-8")
		return
	}
	comma := detectComma(br)
	rb := bufio.NewReaderSize(&boundedRecords{r: br}, 64<<10)
	r := csv.NewReader(rb)
	r.Comma = comma
	r.ReuseRecord = true
	r.FieldsPerRecord = -1

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		l.add(engine.Error, engine.Pos{File: path}, "empty manifest: no header row",
			"the first row names the columns, such as id,name,email,bonifiq.enrolled")
		return
	}
	if err != nil {
		t.readError(err)
		return
	}
	t.headerLine, _ = r.FieldPos(0)
	if t.checkUTF8 && !validCells(header) {
		t.invalidUTF8(t.headerLine)
		return
	}
	t.rec, t.fpos = header, appendFieldPos(nil, r, len(header))
	hpos := make([]engine.Pos, len(header))
	t.header = make([]string, len(header))
	for i, h := range header {
		t.header[i] = trimSpace(h)
		hpos[i] = t.cellPos(i)
	}
	if !t.setColumns(hpos) {
		return
	}

	// Size the id maps from the rows in the buffer, once, rather than
	// growing them row by row.
	if n := br.Buffered(); n > 0 && size > 0 {
		b, _ := br.Peek(n)
		if lines := int64(bytes.Count(b, []byte{'\n'})); lines > 0 {
			l.reserve(int(min(size*lines/int64(n), 1<<26)))
		}
	}

	t.keepColumns()
	t.readRows(newRowReader(rb, r, t.keep, header, int(t.fpos[len(header)-1].line)))
}

// keepColumns sets t.keep.
func (t *table) keepColumns() {
	t.keep = make([]bool, len(t.header))
	t.keep[t.idCol] = true
	for _, s := range t.slots {
		if s.col >= 0 && s.key.Type != engine.TypeBool && s.key.Type != engine.TypeEnum {
			t.keep[s.col] = true
		}
	}
}

// setColumns maps the header to keys and reports what is wrong with it. It
// returns false when rows cannot be read: there is no id column.
func (t *table) setColumns(hpos []engine.Pos) bool {
	l := t.l
	t.idCol = -1
	var slots []slot
	first := make(map[string]int, len(t.header))
	if t.src == nil || t.src.columnsNode == nil {
		for i, h := range t.header {
			if h == "" {
				if t.xl != nil {
					continue // reported with its cells, once merged headings are known
				}
				l.errorf(hpos[i], "name the column with a manifest key, such as email, or remove it", "column %d: empty header", i+1)
				continue
			}
			if j, dup := first[h]; dup {
				l.errorf(hpos[i], "a key has one column", "%s: duplicate column (first at %s)", h, hpos[j])
				continue
			}
			first[h] = i
			k := l.sc.reg.LookupKey(h)
			switch {
			case k == nil:
				// Quoted only in part: a file that is not a manifest (a
				// symlink to some secret) must not be echoed.
				l.errorf(hpos[i], l.sc.keyPathHint(h), "%s: unknown column", echo(h, false))
			case k == engine.IDKey:
				t.idCol = i
			default:
				path := k.Path
				if k.Prefix {
					path = l.intern(h)
				}
				slots = append(slots, slot{col: i, key: k, path: path, label: h, bit: l.sc.providerBit(k)})
			}
		}
		if t.idCol < 0 {
			l.add(engine.Error, t.linePos(t.headerLine), "missing id column",
				"every row needs the customer's id: add an id column")
		}
	} else {
		src := t.src
		for i, h := range t.header {
			if _, dup := first[h]; !dup {
				first[h] = i
			}
		}
		used := make([]bool, len(t.header))
		idMapped := false
		for _, c := range src.columns {
			idMapped = idMapped || c.key == engine.IDKey
			i, ok := first[c.heading]
			if !ok {
				l.add(engine.Error, src.posOf(c.node), fmt.Sprintf("%s.columns[%q]: no such column in %s", src.label, c.heading, t.file),
					didYouMean(c.heading, t.header))
				continue
			}
			for j := i + 1; j < len(t.header); j++ {
				if t.header[j] == c.heading {
					l.errorf(hpos[j], "rename one of them: the heading is mapped to "+c.path, "%s: duplicate column (first at %s)", c.heading, hpos[i])
				}
			}
			used[i] = true
			if c.key == engine.IDKey {
				t.idCol = i
				continue
			}
			slots = append(slots, slot{col: i, key: c.key, path: c.path, label: c.heading, bit: l.sc.providerBit(c.key), dateFmt: c.dateFormat})
		}
		var ignored []string
		for i, h := range t.header {
			if !used[i] && h != "" && !slices.Contains(src.headings, h) {
				ignored = append(ignored, echo(h, true))
			}
		}
		if len(ignored) > 0 {
			l.add(engine.Note, t.linePos(t.headerLine), "ignored columns: "+strings.Join(ignored, ", "),
				"map them in "+src.label+".columns of "+src.manifest+" to load them")
		}
		if !idMapped {
			l.add(engine.Error, src.posOf(src.columnsNode), src.label+".columns: no column maps to id",
				`map the column that holds the customer's id, such as "Código": id`)
		}
	}
	if t.src != nil {
		for _, d := range t.src.defaults {
			i := slices.IndexFunc(slots, func(s slot) bool { return s.path == d.path })
			if i < 0 {
				slots = append(slots, slot{col: -1, key: d.key, path: d.path, label: d.path, bit: l.sc.providerBit(d.key)})
				i = len(slots) - 1
				t.base |= slots[i].bit
				t.nDefOnly++
			}
			slots[i].def, slots[i].hasDef = d.val, true
		}
	}
	if t.idCol < 0 {
		return false
	}
	slices.SortFunc(slots, func(a, b slot) int { return cmp.Compare(a.path, b.path) })
	for i := range slots {
		slots[i].dateFmt = t.dateFormatFor(&slots[i], slots[i].dateFmt)
	}
	t.idSlot = slot{col: t.idCol, key: engine.IDKey, path: engine.IDKey.Path, label: t.header[t.idCol]}
	t.slots = slots
	t.colOf = make(map[string]int, len(slots)+1)
	t.colOf[engine.IDKey.Path] = t.idCol
	bits := t.base
	paths := make([]string, len(slots))
	for i, s := range slots {
		bits |= s.bit
		paths[i] = s.path
		if s.col >= 0 {
			t.colOf[s.path] = s.col
		}
	}
	t.rules = l.sc.rulesFor(paths, bits)
	if bits == 0 {
		t.noProviders = true
		hint := "add a column of a provider, such as " + l.sc.exampleColumns()
		if t.src != nil {
			hint = "map a column to a key of a provider, such as " + l.sc.examples[0] + ", or give one in " + t.src.label + ".defaults"
		}
		l.add(engine.Warning, t.linePos(t.headerLine), "no column belongs to a provider: no row is managed in any provider", hint)
	}
	return true
}

// row loads the row at hand, a non-empty one of the header's width, and
// returns the customer to add (loader.addCustomer), or nil when its id is
// rejected.
func (t *table) row() *engine.Customer {
	l := t.l
	rec := t.rec
	nf := t.nDefOnly
	for j := range t.slots {
		s := &t.slots[j]
		if s.col < 0 {
			continue
		}
		if s.hasDef || trimSpace(rec[s.col]) != "" {
			nf++
		}
	}
	c := l.newCustomer()
	c.Pos = t.cellPos(t.idCol)
	t.cur = c
	id := trimSpace(rec[t.idCol])
	t.bad = t.bad[:0]
	idOK := false
	switch id {
	case "":
		l.add(engine.Error, c.Pos, t.header[t.idCol]+": missing id", "every row needs the customer's id")
	case "~":
		l.add(engine.Error, c.Pos, t.header[t.idCol]+": "+nullProblem.msg, "every row needs the customer's id")
	default:
		if _, p := t.cellValue(&t.idSlot, id); !p.ok() {
			l.add(engine.Error, c.Pos, t.header[t.idCol]+": "+p.msg, p.detail)
		} else {
			idOK = true
		}
	}

	fields := l.newFields(nf)
	managed := t.base
	for j := range t.slots {
		s := &t.slots[j]
		cell := ""
		if s.col >= 0 {
			cell = trimSpace(rec[s.col])
		}
		if cell == "" {
			if s.hasDef {
				fields = append(fields, engine.Field{Name: s.path, Value: s.def})
				managed |= s.bit
			}
			continue
		}
		managed |= s.bit
		var v engine.Value
		if cell == "~" {
			if s.key.NotNull {
				t.cellError(s, nullProblem)
				continue
			}
		} else {
			var p problem
			if v, p = t.cellValue(s, cell); !p.ok() {
				t.cellError(s, p)
				continue
			}
		}
		fields = append(fields, engine.Field{Name: s.path, Value: v})
	}
	c.ID, c.Fields, c.Managed = id, fields, managed
	if !idOK {
		return nil
	}
	l.checkRecord(c, t.bad, t, t.rules)
	return c
}

func (t *table) cellError(s *slot, p problem) {
	t.l.add(engine.Error, t.cellPos(s.col), s.label+": "+p.msg, p.detail)
	t.bad = append(t.bad, s.path)
}

// pos, label and unmanagedHint make the row a recordSource.
func (t *table) pos(path string) engine.Pos {
	if col, ok := t.colOf[path]; ok && col != t.idCol {
		return t.cellPos(col)
	}
	return t.cur.Pos
}

func (t *table) label(path string) string {
	if path == "" {
		return fmt.Sprintf("customer %q", t.cur.ID)
	}
	if col, ok := t.colOf[path]; ok {
		return t.header[col]
	}
	return path
}

func (t *table) unmanagedHint() (string, bool) {
	if t.noProviders {
		return "", false
	}
	return "fill a cell of a " + t.l.sc.serviceList("or") + " column", true
}

// readError reports an error from the CSV reader, and whether reading can
// go on.
func (t *table) readError(err error) bool {
	var pe *csv.ParseError
	var long *errRecordTooLong
	if errors.As(err, &long) {
		t.l.add(engine.Error, engine.Pos{File: t.file, Line: int32(long.line)}, fmt.Sprintf("row longer than %d MiB: not read", MaxRecordBytes>>20),
			"a cell holds far more than a customer's data: check the export (an unclosed quote swallows the rows after it)")
		return false
	}
	if !errors.As(err, &pe) {
		t.l.add(engine.Error, engine.Pos{File: t.file}, "cannot read: "+err.Error(), "")
		return false
	}
	detail := ""
	if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
		detail = `quote a cell that holds quotes, and double the quotes inside it ("")`
	}
	if errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine > 0 && pe.StartLine < pe.Line {
		// The reader stops far from the cause: a quote opened on an
		// earlier line and never closed swallowed the lines between.
		detail = fmt.Sprintf(`a quoted cell of the row that starts on line %d is not closed, or holds a quote that is not doubled (""); the rows up to here were read as part of it`, pe.StartLine)
	}
	t.l.add(engine.Error, engine.Pos{File: t.file, Line: int32(pe.Line), Col: int32(pe.Column)}, "invalid CSV: "+pe.Err.Error(), detail)
	return true
}

func (t *table) invalidUTF8(line int) {
	detail := "save it as UTF-8, or read it through a manifest's sources entry with encoding: windows-1252"
	if t.src != nil {
		detail = "if it is an Excel export, add encoding: windows-1252 to " + t.src.label + " in " + t.src.manifest
	}
	t.l.add(engine.Error, engine.Pos{File: t.file, Line: int32(line)}, "not valid UTF-8", detail)
}

// cellPos returns the position of cell i of the record at hand. The column
// counts characters: csv.Reader counts bytes, so the widths of the cells
// before i on the same line are added up again.
func (t *table) cellPos(i int) engine.Pos {
	if t.xl != nil {
		return engine.Pos{File: t.file, Sheet: t.xl.sheet, Line: t.xl.rows.row, Col: int32(i + 1)}
	}
	line, col := t.fpos[i].line, t.fpos[i].col
	if col > 1 {
		col = t.charCol(i, line)
	}
	return engine.Pos{File: t.file, Line: line, Col: col}
}

// linePos returns the position of a line, or of a worksheet's row.
func (t *table) linePos(line int) engine.Pos {
	p := engine.Pos{File: t.file, Line: int32(line)}
	if t.xl != nil {
		p.Sheet = t.xl.sheet
	}
	return p
}

// cellValue converts the cell of slot s, not empty and not ~, to its key's
// value: by what a worksheet's cell stores, by the slot's date format, or
// as text.
func (t *table) cellValue(s *slot, cell string) (engine.Value, problem) {
	if t.xl != nil {
		if kind := t.xl.kinds[s.col]; kind != kText {
			return typedValue(s.key, kind, cell)
		}
	}
	if s.dateFmt != nil {
		return dateValue(s.key, cell, s.dateFmt)
	}
	v, p := value(s.key, cell)
	if !p.ok() && isDateKey(s.key) {
		p = localDateProblem(cell, p, t.dateWhere())
	}
	return v, p
}

func (t *table) charCol(i int, line int32) int32 {
	k := i
	for k > 0 && t.fpos[k-1].line == line {
		k--
	}
	col := 1
	if k > 0 {
		// Cell k-1 is quoted and ends on this line: count what follows its
		// last line break, its doubled quotes, the closing quote and the
		// delimiter.
		v := t.rec[k-1]
		tail := v[strings.LastIndexByte(v, '\n')+1:]
		col += utf8.RuneCountInString(tail) + strings.Count(tail, `"`) + 2
	}
	for j := k; j < i; j++ {
		start, next := t.fpos[j].col, t.fpos[j+1].col
		v := t.rec[j]
		if int(next-start-1) == len(v) {
			col += utf8.RuneCountInString(v) + 1
		} else {
			col += utf8.RuneCountInString(v) + strings.Count(v, `"`) + 3
		}
	}
	return int32(col)
}

// detectComma picks the delimiter of the header line: ';' when it has more
// semicolons than commas outside quotes, as Excel writes CSV where the
// decimal separator is a comma.
func detectComma(br *bufio.Reader) rune {
	b, _ := br.Peek(64 << 10)
	commas, semis := 0, 0
	quoted := false
	for _, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n' || c == '\r':
			if semis > commas {
				return ';'
			}
			return ','
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

// trimSpace trims surrounding white space, quickly when there is none.
func trimSpace(s string) string {
	if s == "" {
		return s
	}
	if a, z := s[0], s[len(s)-1]; a > ' ' && a < utf8.RuneSelf && z > ' ' && z < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

func emptyRow(rec []string) bool {
	for _, c := range rec {
		if trimSpace(c) != "" {
			return false
		}
	}
	return true
}

func validCells(rec []string) bool {
	for _, c := range rec {
		if !utf8.ValidString(c) {
			return false
		}
	}
	return true
}

// posOf returns the position of node n in the manifest that names s.
func (s *source) posOf(n *yaml.Node) engine.Pos {
	return engine.Pos{File: s.manifest, Line: int32(n.Line), Col: int32(n.Column)}
}
