package manifest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A workbook (.xlsx) is read as a table, like a CSV: the first row that is
// not empty holds the headings, each later row that is not empty is a
// customer. Cells are read by the value they store, not by how the
// spreadsheet shows them: a number as its digits (a phone 5511998765432
// shown as 5,51199E+12 is read 5511998765432), text as it is (leading
// zeros kept), a date cell as a date in the workbook's date system, a
// boolean as true or false.
//
// The worksheet is streamed from the archive, never held whole: memory
// grows with the customers loaded and the shared strings (which a workbook
// stores once, apart from the cells), not with the sheet. The small parts
// (relationships, workbook, styles) are read with encoding/xml; the
// worksheet and the shared strings with xmlScanner.

// cellKind says what a cell stores.
type cellKind uint8

const (
	kText      cellKind = iota
	kNumber             // digits, or a decimal number
	kBigNumber          // a whole number of more than 15 digits
	kBool
	kDate     // YYYY-MM-DD
	kDateTime // RFC 3339, UTC
	kTime     // hh:mm:ss, a time of day
	kError    // an error value, such as #N/A
	kInvalid  // a cell that cannot be read; the text says why
)

// styleKind says what a cell style's number format shows.
type styleKind uint8

const (
	styleNumber styleKind = iota
	styleDate
	styleTime
)

// workbook is an open .xlsx file.
type workbook struct {
	zr       *zip.ReadCloser
	parts    map[string]*zip.File
	sheets   []wbSheet
	date1904 bool
	styles   []styleKind // by cellXfs index
	// The shared strings: string i is sst[sstEnd[i-1]:sstEnd[i]].
	sst    string
	sstEnd []uint32
}

// wbSheet is one sheet of a workbook.
type wbSheet struct {
	name  string
	part  string // path in the archive; "" when the sheet is missing
	chart bool   // a chart sheet, which has no cells
}

// openWorkbook opens an .xlsx file and reads everything but its sheets.
// Errors are meant for the user, without the path.
func openWorkbook(path string) (*workbook, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, notWorkbook(path)
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, errors.New(pathError(err))
		}
		return nil, fmt.Errorf("cannot read: %v", err)
	}
	wb := &workbook{zr: zr, parts: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		wb.parts[strings.TrimPrefix(f.Name, "/")] = f
	}
	if err := wb.load(); err != nil {
		zr.Close()
		return nil, err
	}
	return wb, nil
}

// notWorkbook explains a file named .xlsx that is not a zip archive.
func notWorkbook(path string) error {
	head := make([]byte, 512)
	if f, err := os.Open(path); err == nil {
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		f.Close()
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0")):
		return errors.New("not an .xlsx workbook: an Excel 97-2003 (.xls) file, or a workbook with a password (save it in Excel as \"Excel Workbook (.xlsx)\", without a password)")
	case len(head) > 0 && bytes.IndexByte(head, 0) < 0 && utf8.Valid(head):
		return errors.New("not an .xlsx workbook: the file is text (if it is a CSV, name it .csv)")
	}
	return errors.New("not an .xlsx workbook (not a zip archive; save it in Excel as \"Excel Workbook (.xlsx)\")")
}

func (wb *workbook) Close() error { return wb.zr.Close() }

// xRels is a relationships part.
type xRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

// xWorkbook is the part of xl/workbook.xml that reading needs.
type xWorkbook struct {
	Pr struct {
		Date1904 string `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []struct {
		Name  string     `xml:"name,attr"`
		Attrs []xml.Attr `xml:",any,attr"`
	} `xml:"sheets>sheet"`
}

// xStyles is the part of xl/styles.xml that says which cells are dates.
type xStyles struct {
	NumFmts []struct {
		ID   int    `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	Xfs []struct {
		NumFmtID int `xml:"numFmtId,attr"`
	} `xml:"cellXfs>xf"`
}

// load reads the workbook's relationships, sheets, styles and shared
// strings.
func (wb *workbook) load() error {
	var root xRels
	if err := wb.decode("_rels/.rels", &root); err != nil {
		return err
	}
	main := ""
	for _, r := range root.Rels {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			main = relTarget("", r.Target)
		}
	}
	if main == "" || wb.parts[main] == nil {
		return errors.New("not an .xlsx workbook: it has no workbook part (is it a Word or PowerPoint file?)")
	}
	var book xWorkbook
	if err := wb.decode(main, &book); err != nil {
		return err
	}
	wb.date1904 = book.Pr.Date1904 == "1" || book.Pr.Date1904 == "true"
	dir := path.Dir(main)
	var rels xRels
	relsPart := path.Join(dir, "_rels", path.Base(main)+".rels")
	if wb.parts[relsPart] != nil {
		if err := wb.decode(relsPart, &rels); err != nil {
			return err
		}
	}
	targets := map[string]string{}
	var stylesPart, sstPart string
	chart := map[string]bool{}
	for _, r := range rels.Rels {
		t := relTarget(dir, r.Target)
		targets[r.ID] = t
		switch {
		case strings.HasSuffix(r.Type, "/styles"):
			stylesPart = t
		case strings.HasSuffix(r.Type, "/sharedStrings"):
			sstPart = t
		case strings.HasSuffix(r.Type, "/chartsheet"):
			chart[r.ID] = true
		}
	}
	for _, s := range book.Sheets {
		id := ""
		for _, a := range s.Attrs {
			if a.Name.Local == "id" && a.Name.Space != "" {
				id = a.Value
			}
		}
		sh := wbSheet{name: s.Name, chart: chart[id]}
		if t := targets[id]; wb.parts[t] != nil {
			sh.part = t
		}
		wb.sheets = append(wb.sheets, sh)
	}
	if len(wb.sheets) == 0 {
		return errors.New("the workbook has no sheets")
	}
	if stylesPart != "" && wb.parts[stylesPart] != nil {
		var st xStyles
		if err := wb.decode(stylesPart, &st); err != nil {
			return err
		}
		custom := make(map[int]string, len(st.NumFmts))
		for _, f := range st.NumFmts {
			custom[f.ID] = f.Code
		}
		wb.styles = make([]styleKind, len(st.Xfs))
		for i, xf := range st.Xfs {
			wb.styles[i] = numFmtKind(xf.NumFmtID, custom)
		}
	}
	if sstPart != "" && wb.parts[sstPart] != nil {
		if err := wb.readSharedStrings(sstPart); err != nil {
			return err
		}
	}
	return nil
}

// relTarget resolves a relationship's target, relative to dir unless it is
// absolute.
func relTarget(dir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return path.Clean(path.Join(dir, target))
}

// decode reads a small part with encoding/xml.
func (wb *workbook) decode(name string, v any) error {
	f := wb.parts[name]
	if f == nil {
		return fmt.Errorf("not an .xlsx workbook: it has no %s", name)
	}
	if f.UncompressedSize64 > 256<<20 {
		return fmt.Errorf("%s: too large (%d MB)", name, f.UncompressedSize64>>20)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("%s: invalid XML: %v", name, err)
	}
	return nil
}

// numFmtKind says whether number format id (a built-in one, or one of
// custom) shows a date, a time of day, or a number.
func numFmtKind(id int, custom map[int]string) styleKind {
	if code, ok := custom[id]; ok {
		return formatCodeKind(code)
	}
	switch {
	case 14 <= id && id <= 17, id == 22, 27 <= id && id <= 31, 34 <= id && id <= 36, 50 <= id && id <= 58:
		return styleDate
	case 18 <= id && id <= 21, 32 <= id && id <= 33, id == 45, id == 47:
		return styleTime
	}
	return styleNumber
}

// formatCodeKind reads a custom number format: it shows a date when, out of
// quoted text, escapes and [brackets], it has a day or a year; a time when
// it has only hours, minutes or seconds. Elapsed times ([h]:mm) are
// durations, read as numbers.
func formatCodeKind(code string) styleKind {
	if i := strings.IndexByte(code, ';'); i >= 0 {
		code = code[:i] // the format of positive numbers
	}
	date, clock := false, false
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			}
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				return styleNumber
			}
			inner := strings.ToLower(code[i+1 : i+j])
			if inner != "" && strings.Trim(inner, "hms") == "" {
				return styleNumber // elapsed time
			}
			i += j
		case 'd', 'D', 'y', 'Y', 'e':
			date = true
		case 'h', 'H', 's', 'S':
			clock = true
		case 'm', 'M':
			// months or minutes: a date has a day or a year besides.
		case 'G', 'g':
			if strings.HasPrefix(strings.ToLower(code[i:]), "general") {
				i += len("general") - 1
			}
		}
	}
	switch {
	case date:
		return styleDate
	case clock:
		return styleTime
	}
	return styleNumber
}

// readSharedStrings reads the table of strings that cells refer to.
func (wb *workbook) readSharedStrings(name string) error {
	rc, err := wb.parts[name].Open()
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	defer rc.Close()
	sc := newXMLScanner(rc)
	var all []byte
	inSI, inT, phonetic := false, false, 0
	for sc.next() {
		switch sc.kind {
		case tokStart:
			switch string(sc.name) {
			case "si":
				inSI = !sc.empty
				if sc.empty {
					wb.sstEnd = append(wb.sstEnd, uint32(len(all)))
				}
			case "t":
				inT = inSI && phonetic == 0 && !sc.empty
			case "rPh":
				if !sc.empty {
					phonetic++
				}
			}
		case tokEnd:
			switch string(sc.name) {
			case "si":
				inSI = false
				if uint64(len(all)) > math.MaxUint32 {
					return fmt.Errorf("%s: more than 4 GB of text", name)
				}
				wb.sstEnd = append(wb.sstEnd, uint32(len(all)))
			case "t":
				inT = false
			case "rPh":
				phonetic--
			}
		case tokText:
			if inT {
				if sc.cdata {
					all = append(all, sc.text...)
				} else if all, err = appendText(all, sc.text, true); err != nil {
					return fmt.Errorf("%s: invalid XML: %v", name, err)
				}
			}
		}
	}
	if sc.err != nil {
		return fmt.Errorf("%s: %v", name, sc.err)
	}
	if !utf8.Valid(all) {
		return fmt.Errorf("%s: not valid UTF-8", name)
	}
	wb.sst = string(all)
	return nil
}

// sharedString returns shared string i.
func (wb *workbook) sharedString(i int) (string, bool) {
	if i < 0 || i >= len(wb.sstEnd) {
		return "", false
	}
	start := uint32(0)
	if i > 0 {
		start = wb.sstEnd[i-1]
	}
	return wb.sst[start:wb.sstEnd[i]], true
}

// sheetNames lists the sheets, quoted, for messages.
func (wb *workbook) sheetNames() string {
	names := make([]string, len(wb.sheets))
	for i, s := range wb.sheets {
		names[i] = strconv.Quote(s.name)
	}
	return strings.Join(names, ", ")
}

// cellRange is a range of cells, such as a merged cell: columns c1..c2,
// rows r1..r2, from 1.
type cellRange struct{ c1, r1, c2, r2 int32 }

func (r cellRange) String() string {
	return columnName(r.c1) + strconv.Itoa(int(r.r1)) + ":" + columnName(r.c2) + strconv.Itoa(int(r.r2))
}
