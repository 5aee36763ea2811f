package manifest

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/reconcile-dev/reconcile/engine"
)

// isTable reports whether a manifest file is read as a table: a CSV or a
// workbook.
func isTable(name string) bool { return isCSV(name) || isXLSX(name) }

func isXLSX(name string) bool { return strings.EqualFold(filepath.Ext(name), ".xlsx") }

// readTable reads a table manifest, a CSV or a workbook, or a sources file.
func (l *loader) readTable(path string, src *source) {
	if isXLSX(path) {
		l.readXLSX(path, src)
		return
	}
	l.readCSV(path, src)
}

// xlsxTable is what a table needs to read a worksheet.
type xlsxTable struct {
	rows  *sheetRows
	sheet string
	// kinds holds the kind of each cell of the row at hand.
	kinds []cellKind
	width int // the header's
	// unnamed maps a column without a heading that holds a value to its
	// first such cell.
	unnamed map[int32]int32
	// ignoreUnnamed is set when the columns that matter are named by a
	// sources entry, so other columns are not errors.
	ignoreUnnamed bool
}

// readXLSX reads a workbook: canonical headings, or those a sources entry
// maps.
func (l *loader) readXLSX(path string, src *source) {
	fail := func(msg, hint string) {
		if src != nil {
			l.add(engine.Error, src.manifestPos(), src.label+".file: "+path+": "+msg, hint)
		} else {
			l.add(engine.Error, engine.Pos{File: path}, msg, hint)
		}
	}
	wb, err := openWorkbook(path)
	if err != nil {
		fail(err.Error(), "")
		return
	}
	defer wb.Close()
	sh, ok := l.pickSheet(wb, path, src)
	if !ok {
		return
	}
	rows, err := wb.openSheet(sh.part)
	if err != nil {
		l.add(engine.Error, engine.Pos{File: path, Sheet: sh.name}, "cannot read: "+err.Error(), "")
		return
	}
	defer rows.Close()
	xt := &xlsxTable{rows: rows, sheet: sh.name, unnamed: map[int32]int32{}}
	t := &table{l: l, file: path, src: src, xl: xt}
	xt.ignoreUnnamed = src != nil && src.columnsNode != nil
	t.readSheet()
	if rows.err != nil {
		l.add(engine.Error, engine.Pos{File: path, Sheet: sh.name, Line: rows.row}, "cannot read the rest of the sheet: "+rows.err.Error(),
			"open the workbook in a spreadsheet and save it again as .xlsx")
	}
}

// pickSheet finds the sheet that src names, or the first one.
func (l *loader) pickSheet(wb *workbook, path string, src *source) (wbSheet, bool) {
	var sh wbSheet
	var at engine.Pos
	label := ""
	switch {
	case src == nil || src.sheetNode == nil:
		sh = wb.sheets[0]
		at = engine.Pos{File: path}
	default:
		at, label = src.posOf(src.sheetNode), src.label+".sheet: "
		n := src.sheetNode
		if n.ShortTag() == "!!int" {
			i, err := strconv.Atoi(n.Value)
			if err != nil || i < 1 || i > len(wb.sheets) {
				l.add(engine.Error, at, fmt.Sprintf("%sno sheet %s in %s: it has %d (%s)", label, n.Value, path, len(wb.sheets), wb.sheetNames()),
					"a number is the sheet's position, from 1; write a name in quotes for a sheet named with digits")
				return sh, false
			}
			sh = wb.sheets[i-1]
			break
		}
		found := false
		names := make([]string, len(wb.sheets))
		for i, s := range wb.sheets {
			names[i] = s.name
			if s.name == n.Value {
				sh, found = s, true
			}
		}
		if !found {
			hint := didYouMean(n.Value, names)
			if hint == "" {
				hint = "name a sheet, or give its position (1 is the first)"
			}
			l.add(engine.Error, at, fmt.Sprintf("%sno sheet %q in %s (its sheets: %s)", label, n.Value, path, wb.sheetNames()), hint)
			return sh, false
		}
	}
	switch {
	case sh.chart:
		l.add(engine.Error, at, fmt.Sprintf("%ssheet %q of %s is a chart, not a worksheet", label, sh.name, path), "")
		return sh, false
	case sh.part == "":
		l.add(engine.Error, at, fmt.Sprintf("%ssheet %q of %s is missing from the file", label, sh.name, path), "open the workbook in a spreadsheet and save it again")
		return sh, false
	}
	return sh, true
}

// readSheet reads the rows of the worksheet: the headings, then the
// customers.
func (t *table) readSheet() {
	xt, l := t.xl, t.l
	rows := xt.rows
	// The headings: the first row with a cell that is not blank.
	var headers []*xcell
	for rows.next() {
		if !rows.blank() {
			headers = make([]*xcell, len(rows.cells))
			for i := range rows.cells {
				headers[i] = &rows.cells[i]
			}
			break
		}
	}
	if headers == nil {
		if rows.err == nil {
			l.add(engine.Error, engine.Pos{File: t.file, Sheet: xt.sheet}, "empty manifest: no header row",
				"the first row names the columns, such as id, name, email, bonifiq.enrolled")
		}
		return
	}
	t.headerLine = int(rows.row)
	xt.width = int(headers[len(headers)-1].col)
	t.header = make([]string, xt.width)
	t.rec = make([]string, xt.width)
	xt.kinds = make([]cellKind, xt.width)
	hpos := make([]engine.Pos, xt.width)
	for i := range hpos {
		hpos[i] = t.cellPos(i)
	}
	for _, c := range headers {
		t.header[c.col-1] = trimSpace(rows.cellText(c))
	}
	if !t.setColumns(hpos) {
		return
	}
	if rows.dimRows > t.headerLine {
		l.reserve(min(rows.dimRows-t.headerLine, 1<<26))
	}
	n := 0
	for rows.next() {
		if rows.blank() {
			continue
		}
		clear(t.rec)
		clear(xt.kinds)
		empty := true
		for i := range rows.cells {
			c := &rows.cells[i]
			text := rows.cellText(c)
			if int(c.col) > xt.width || t.header[c.col-1] == "" {
				if _, seen := xt.unnamed[c.col]; !seen && (trimSpace(text) != "" || c.kind != kText) {
					xt.unnamed[c.col] = rows.row
				}
				continue
			}
			t.rec[c.col-1], xt.kinds[c.col-1] = text, c.kind
			if empty && (c.kind != kText || trimSpace(text) != "") {
				empty = false
			}
		}
		if empty {
			continue
		}
		n++
		if c := t.row(); c != nil {
			l.addCustomer(c)
		}
	}
	if rows.err == nil && n == 0 {
		l.add(engine.Error, engine.Pos{File: t.file, Sheet: xt.sheet}, "empty manifest: a header row and no customers", "")
	}
	t.reportUnnamed(rows.merges)
}

// blank reports whether the row at hand holds only blank text.
func (r *sheetRows) blank() bool {
	for i := range r.cells {
		c := &r.cells[i]
		if c.kind != kText || trimSpace(r.cellText(c)) != "" {
			return false
		}
	}
	return true
}

// reportUnnamed reports the columns without a heading that hold values:
// an error with canonical headings, a note with a sources entry's, and a
// warning for a column under a merged heading, which only its first column
// reads.
func (t *table) reportUnnamed(merges []cellRange) {
	xt := t.xl
	for _, col := range slices.Sorted(maps.Keys(xt.unnamed)) {
		row := xt.unnamed[col]
		at := engine.Pos{File: t.file, Sheet: xt.sheet, Line: row, Col: col}
		name := columnName(col)
		merged := false
		for _, m := range merges {
			if m.r1 == int32(t.headerLine) && m.c1 < col && col <= m.c2 {
				heading := t.header[m.c1-1]
				hint := "give column " + name + " a heading of its own to read it"
				t.l.add(engine.Warning, at, fmt.Sprintf("column %s: ignored: it is under the merged heading %q (%s), of which only column %s is read",
					name, heading, m, columnName(m.c1)), hint)
				merged = true
				break
			}
		}
		if merged {
			continue
		}
		if xt.ignoreUnnamed {
			t.l.add(engine.Note, at, fmt.Sprintf("column %s: ignored: it has no heading", name),
				"give it a heading and map it in "+t.src.label+".columns of "+t.src.manifest+" to load it")
			continue
		}
		t.l.errorf(at, "name the column in row "+strconv.Itoa(t.headerLine)+" with a manifest key, such as email, or clear its cells",
			"column %s: a value in a column without a heading", name)
	}
}

// typedValue checks a cell that stores something other than text against
// key k, and converts it. The text is the cell's canonical text.
func typedValue(k *engine.Key, kind cellKind, text string) (engine.Value, problem) {
	strict := k.Path == "id" || k.Path == "phone" || k.Path == "document"
	switch kind {
	case kInvalid:
		return engine.Value{}, problem{"unreadable cell: " + text, "type the value again in a spreadsheet and save the workbook"}
	case kError:
		return engine.Value{}, problem{"the cell holds the error " + text, "fix the formula, or replace the cell by a value"}
	case kNumber, kBigNumber:
		if isDateKey(k) {
			return engine.Value{}, problem{fmt.Sprintf("%s is a number, not a date", text), "format the column as a date in the spreadsheet"}
		}
		if kind == kBigNumber && strict {
			return engine.Value{}, problem{fmt.Sprintf("%s is a number of more than 15 digits", text),
				"a spreadsheet keeps 15 digits of a number, so the last ones may be lost: format the column as text and type the numbers again"}
		}
	case kDate, kDateTime, kTime:
		switch {
		case kind == kTime && k.Type != engine.TypeString:
			return engine.Value{}, problem{fmt.Sprintf("%s is a time of day", text), "format the column as a date in the spreadsheet"}
		case kind == kDateTime && k.Type == engine.TypeDate:
			return engine.Value{}, problem{fmt.Sprintf("%s is a date and a time", text), k.Path + " is a date: remove the time of day in the spreadsheet"}
		case strict || (!isDateKey(k) && k.Type != engine.TypeString):
			return engine.Value{}, problem{fmt.Sprintf("%s is a date", text), "the cell is formatted as a date in the spreadsheet: format the column as text or as a number"}
		}
	}
	return value(k, text)
}

// setSheet reads a sources entry's sheet: a name, or a position from 1.
func (f *yamlFile) setSheet(src *source, v *yaml.Node, label string) {
	text, ok := f.scalar(v, label, "a sheet name or position", "leave the key out to read the first sheet")
	switch {
	case !ok:
	case text == "":
		f.errorf(v, "", "%s: needs a sheet name or position", label)
	default:
		src.sheetNode = v
	}
}

// checkSourceKind checks the keys of a sources entry that apply to one kind
// of file: sheet to workbooks, encoding to CSV files.
func (f *yamlFile) checkSourceKind(src *source) {
	xlsx := isXLSX(src.path)
	if src.sheetNode != nil && !xlsx {
		f.errorf(src.sheetNode, "sheet chooses a sheet of an .xlsx workbook; a CSV file has one table", "%s.sheet: %s is not a workbook", src.label, src.path)
	}
	if src.encodingNode != nil && xlsx {
		f.l.add(engine.Warning, f.pos(src.encodingNode), fmt.Sprintf("%s.encoding: ignored: a workbook's text is always Unicode", src.label),
			"remove the key; encoding applies to CSV files")
		src.enc, src.encoding = nil, ""
	}
}
