package manifest

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// xlDate is a date cell: a time stored as a serial number, shown with a
// number format (a built-in id, or a custom code).
type xlDate struct {
	t      time.Time
	numFmt int
	custom string
}

// xlStyled is a blank cell that has a style, as spreadsheets leave where a
// column is formatted.
type xlStyled struct{}

// sheetSpec is a sheet of a test workbook: rows by number, from column A,
// and merged ranges.
type sheetSpec struct {
	name   string
	rows   map[int][]any
	merged []string
}

// makeXLSX writes a workbook with excelize, the library most Go programs
// write workbooks with, and returns its bytes. Values are stored by type:
// a string as text (a shared string), an int or float64 as a number, a bool
// as a boolean, an xlDate as a date cell.
func makeXLSX(t testing.TB, date1904 bool, sheets ...sheetSpec) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if date1904 {
		yes := true
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
			t.Fatal(err)
		}
	}
	for i, sh := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sh.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(sh.name); err != nil {
			t.Fatal(err)
		}
		for r, cells := range sh.rows {
			for c, v := range cells {
				if v == nil {
					continue
				}
				ref, _ := excelize.CoordinatesToCellName(c+1, r)
				switch v := v.(type) {
				case xlDate:
					if err := f.SetCellValue(sh.name, ref, v.t); err != nil {
						t.Fatal(err)
					}
					st := &excelize.Style{NumFmt: v.numFmt}
					if v.custom != "" {
						st = &excelize.Style{CustomNumFmt: &v.custom}
					}
					id, err := f.NewStyle(st)
					if err != nil {
						t.Fatal(err)
					}
					if err := f.SetCellStyle(sh.name, ref, ref, id); err != nil {
						t.Fatal(err)
					}
				case xlStyled:
					id, err := f.NewStyle(&excelize.Style{NumFmt: 14})
					if err != nil {
						t.Fatal(err)
					}
					if err := f.SetCellStyle(sh.name, ref, ref, id); err != nil {
						t.Fatal(err)
					}
				default:
					if err := f.SetCellValue(sh.name, ref, v); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, m := range sh.merged {
			from, to, _ := strings.Cut(m, ":")
			if err := f.MergeCell(sh.name, from, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

// clientesSheets is a workbook as a back office exports it: Portuguese
// headings, one merged over two columns, numbers stored as numbers, dates
// as date cells, empty rows, and a second sheet.
func clientesSheets() []sheetSpec {
	return []sheetSpec{
		{
			name: "Plan1",
			rows: map[int][]any{
				1: {"Código", "Nome", nil, "E-mail", "Telefone", "Participa", "Nascimento", "Cadastro", "Nível"},
				2: {"00123", "Ana Lima", nil, "ana@example.com", 5511998765432, true,
					xlDate{t: day(1988, 4, 12), numFmt: 14}, xlDate{t: time.Date(2023, 11, 7, 5, 31, 56, 0, time.UTC), numFmt: 22}, 3},
				// Row 3 does not exist; row 4 has only formatted, blank cells.
				4: {xlStyled{}, "  ", nil, nil, xlStyled{}},
				5: {2002, "Bruno Dias", nil, "x@", "+55 11 91234-5678", "não", "12/04/1988", nil, 0},
				6: {2003.0, "Carla Reis", "(apelido)", "carla@example.com", 1234567890123456, false, 32245, nil, 2},
				7: {"2004", "Davi", nil, nil, nil, xlDate{t: day(2020, 1, 1), custom: "dd/mm/yyyy"}, xlDate{t: time.Date(1990, 1, 2, 10, 30, 0, 0, time.UTC), custom: "dd/mm/yyyy hh:mm"}},
			},
			merged: []string{"B1:C1"},
		},
		{
			name: "Plan2",
			rows: map[int][]any{
				1: {"id", "name", "bonifiq.birthday", "bonifiq.enrolled"},
				2: {7, "Sheet Two", xlDate{t: day(2000, 2, 29), custom: "d/m/yy"}, 1},
			},
		},
	}
}

const clientesYAML = `sources:
  - file: clientes.xlsx
    sheet: Plan1
    date_format: DD/MM/YYYY
    columns:
      "Código": id
      "Nome": name
      "E-mail": email
      "Telefone": phone
      "Participa": bonifiq.enrolled
      "Nascimento": bonifiq.birthday
      "Cadastro": bonifiq.signup_date
      "Nível": bonifiq.tier.id
`

func TestLoadXLSX(t *testing.T) {
	clientes := makeXLSX(t, false, clientesSheets()...)
	runLoadCases(t, []loadCase{
		{
			name:  "a sources entry: stored values, date cells, merged heading, empty rows, bad cells",
			files: map[string]string{"m.yaml": clientesYAML, "clientes.xlsx": clientes},
			paths: []string{"m.yaml"},
			want: []string{
				`clientes.xlsx: Plan1!D5: E-mail: invalid e-mail address "x@"`,
				`clientes.xlsx: Plan1!I5: Nível: 0 is out of range (it must be from 1 to 2147483647)`,
				`clientes.xlsx: Plan1!C6: warning: column C: ignored: it is under the merged heading "Nome" (B1:C1), of which only column B is read (give column C a heading of its own to read it)`,
				`clientes.xlsx: Plan1!E6: Telefone: 1234567890123456 is a number of more than 15 digits (a spreadsheet keeps 15 digits of a number, so the last ones may be lost: format the column as text and type the numbers again)`,
				`clientes.xlsx: Plan1!G6: Nascimento: 32245 is a number, not a date (format the column as a date in the spreadsheet)`,
				`clientes.xlsx: Plan1!F7: Participa: 2020-01-01 is a date (the cell is formatted as a date in the spreadsheet: format the column as text or as a number)`,
				`clientes.xlsx: Plan1!G7: Nascimento: 1990-01-02T10:30:00Z is a date and a time (bonifiq.birthday is a date: remove the time of day in the spreadsheet)`,
			},
			customers: []*engine.Customer{
				xcust("00123", "clientes.xlsx", "Plan1", 2, 1, bq, "name", "Ana Lima", "email", "ana@example.com", "phone", "5511998765432",
					"bonifiq.enrolled", true, "bonifiq.birthday", "1988-04-12", "bonifiq.signup_date", "2023-11-07T05:31:56Z", "bonifiq.tier.id", 3),
				// A row with bad cells keeps its good ones (the bad ones are
				// errors, so nothing is planned).
				xcust("2002", "clientes.xlsx", "Plan1", 5, 1, bq, "name", "Bruno Dias", "phone", "+55 11 91234-5678",
					"bonifiq.enrolled", false, "bonifiq.birthday", "1988-04-12"),
				xcust("2003", "clientes.xlsx", "Plan1", 6, 1, bq, "name", "Carla Reis", "email", "carla@example.com",
					"bonifiq.enrolled", false, "bonifiq.tier.id", 2),
				xcust("2004", "clientes.xlsx", "Plan1", 7, 1, bq, "name", "Davi"),
			},
		},
		{
			name: "the second sheet by position, canonical headings, 1904 dates",
			files: map[string]string{
				"m.yaml":    "sources:\n  - file: book.xlsx\n    sheet: 2\n",
				"book.xlsx": makeXLSX(t, true, clientesSheets()...),
			},
			paths: []string{"m.yaml"},
			customers: []*engine.Customer{
				xcust("7", "book.xlsx", "Plan2", 2, 1, bq, "name", "Sheet Two", "bonifiq.birthday", "2000-02-29", "bonifiq.enrolled", true),
			},
		},
		{
			name:  "-f reads the first sheet with canonical headings",
			files: map[string]string{"clientes.xlsx": clientes},
			want: []string{
				`clientes.xlsx: Plan1 row 1: missing id column (every row needs the customer's id: add an id column)`,
				`clientes.xlsx: Plan1!A1: Código: unknown column`,
				`clientes.xlsx: Plan1!B1: Nome: unknown column (did you mean "name"?)`,
				`clientes.xlsx: Plan1!D1: E-mail: unknown column (did you mean "email"?)`,
				`clientes.xlsx: Plan1!E1: Telefone: unknown column`,
				`clientes.xlsx: Plan1!F1: Participa: unknown column`,
				`clientes.xlsx: Plan1!G1: Nascimento: unknown column`,
				`clientes.xlsx: Plan1!H1: Cadastro: unknown column`,
				`clientes.xlsx: Plan1!I1: Nível: unknown column`,
			},
		},
		{
			name: "a directory picks up workbooks, skips lock files and names what it skips",
			files: map[string]string{
				"m/a.xlsx": makeXLSX(t, false, sheetSpec{name: "Clientes 2024", rows: map[int][]any{
					1: {"id", "name", "phone", "bonifiq.enrolled", "", "tomticket.language"},
					3: {"1", "Ana", 5511998765432, "sim", nil, "pt-BR"},
					4: {"2", "Bia", "011 4444", "", "stray", ""},
					5: {"3", 4.5, nil, true},
				}}),
				"m/~$a.xlsx": "lock",
				"m/old.xls":  "\xd0\xcf\x11\xe0",
				"m/b.yaml":   "customers: [{id: '9', bonifiq: {}}]\n",
			},
			paths:  []string{"m"},
			loaded: []string{"m/a.xlsx", "m/b.yaml"},
			want: []string{
				`m/a.xlsx: 'Clientes 2024'!A4: warning: customer "2": managed in no provider (fill a cell of a bonifiq, invisiblecollector or tomticket column)`,
				`m/a.xlsx: 'Clientes 2024'!E4: column E: a value in a column without a heading (name the column in row 1 with a manifest key, such as email, or clear its cells)`,
				`m: note: skipped files that are not manifests: "old.xls", "~$a.xlsx" (a spreadsheet's lock file: the workbook is open) (a directory contributes its *.yaml, *.yml, *.csv and *.xlsx files; name another file with -f, or save .xls workbooks as .xlsx)`,
			},
			customers: []*engine.Customer{
				xcust("1", "m/a.xlsx", "Clientes 2024", 3, 1, []string{"bonifiq", "tomticket"}, "name", "Ana", "phone", "5511998765432", "bonifiq.enrolled", true, "tomticket.language", "pt-BR"),
				xcust("2", "m/a.xlsx", "Clientes 2024", 4, 1, nil, "name", "Bia", "phone", "011 4444"),
				xcust("3", "m/a.xlsx", "Clientes 2024", 5, 1, bq, "name", "4.5", "bonifiq.enrolled", true),
				cust("9", "m/b.yaml:1:18", bq),
			},
		},
		{
			name: "sources problems: sheet, encoding, date formats",
			files: map[string]string{
				"m.yaml": `sources:
  - file: a.xlsx
    sheet: Plan3
    columns: {id: id}
  - file: b.xlsx
    sheet: 3
  - file: c.csv
    sheet: 1
  - file: d.xlsx
    encoding: cp1252
    date_format: DD/MM/YY
    columns:
      "id": id
      "Nascimento": {key: bonifiq.birthday, date_format: MM/DD/YYYY}
      "Nome": {key: name, date_format: DD.MM.YYYY}
      "Cadastro": {keys: bonifiq.signup_date}
  - file: e.xlsx
`,
				"a.xlsx": clientes,
				"b.xlsx": clientes,
				"c.csv":  "id,bonifiq.enrolled\n1,true\n",
				"d.xlsx": makeXLSX(t, false, sheetSpec{name: "S", rows: map[int][]any{1: {"id", "Nascimento", "Nome"}, 2: {2, "04/25/1990", "X"}}}),
				"e.xlsx": "id,name\n1,Ana\n",
			},
			paths: []string{"m.yaml"},
			want: []string{
				`m.yaml:3:12: sources[0].sheet: no sheet "Plan3" in a.xlsx (its sheets: "Plan1", "Plan2") (did you mean "Plan1"?)`,
				`m.yaml:6:12: sources[1].sheet: no sheet 3 in b.xlsx: it has 2 ("Plan1", "Plan2") (a number is the sheet's position, from 1; write a name in quotes for a sheet named with digits)`,
				`m.yaml:8:12: sources[2].sheet: c.csv is not a workbook (sheet chooses a sheet of an .xlsx workbook; a CSV file has one table)`,
				`m.yaml:10:15: warning: sources[3].encoding: ignored: a workbook's text is always Unicode (remove the key; encoding applies to CSV files)`,
				`m.yaml:11:18: sources[3].date_format: invalid date format "DD/MM/YY": unknown token "YY" (write it with DD, MM, YYYY (and hh:mm or hh:mm:ss for times), such as DD/MM/YYYY, MM/DD/YYYY, YYYY-MM-DD or DD.MM.YYYY hh:mm)`,
				`m.yaml:15:21: sources[3].columns["Nome"]: name is not a date (date_format reads the dates of bonifiq.birthday and bonifiq.signup_date)`,
				`m.yaml:16:19: sources[3].columns["Cadastro"]: missing key (write {key: bonifiq.birthday, date_format: DD/MM/YYYY})`,
				`m.yaml:16:20: sources[3].columns["Cadastro"].keys: unknown key (did you mean "key"?)`,
				`m.yaml:17:11: sources[4].file: e.xlsx: not an .xlsx workbook: the file is text (if it is a CSV, name it .csv)`,
			},
		},
	})
}

// xcust is cust for a customer read from a worksheet.
func xcust(id, file, sheet string, row, col int32, managed []string, kv ...any) *engine.Customer {
	c := cust(id, "x:1:1", managed, kv...)
	c.Pos = engine.Pos{File: file, Sheet: sheet, Line: row, Col: col}
	return c
}

// TestXLSXMatchesExcelize reads a workbook that excelize wrote, with shared
// strings and with the inline strings of its stream writer, and checks
// every cell against what excelize reads back (raw values: what is stored).
func TestXLSXMatchesExcelize(t *testing.T) {
	dir := t.TempDir()
	rows := [][]any{
		{"id", "name", "phone", "score", "flag", "note"},
		{1, "Ana & <Bia>", 5511998765432, 0.1, true, "tab\there"},
		{-7, "  spaced  ", "007", 1e20, false, "\"quoted\" 'single'"},
		{3.25, "Ünïcödé — ✓", "+55 (11) 9", -0.5, true, "line\nbreak"},
	}
	shared := excelize.NewFile()
	stream := excelize.NewFile()
	sw, err := stream.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		ref, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := shared.SetSheetRow("Sheet1", ref, &r); err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRow(ref, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*excelize.File{"shared.xlsx": shared, "stream.xlsx": stream} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := f.SaveAs(path); err != nil {
				t.Fatal(err)
			}
			want, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			got := readAllRows(t, path)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cells (-excelize +ours):\n%s", diff)
			}
		})
	}
}

// readAllRows reads every cell of the first sheet as text.
func readAllRows(t *testing.T, path string) [][]string {
	t.Helper()
	wb, err := openWorkbook(path)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	rows, err := wb.openSheet(wb.sheets[0].part)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.next() {
		for len(out) < int(rows.row)-1 {
			out = append(out, nil)
		}
		var row []string
		for i := range rows.cells {
			c := &rows.cells[i]
			for len(row) < int(c.col)-1 {
				row = append(row, "")
			}
			text := rows.cellText(c)
			if c.kind == kBool { // excelize reads a boolean's stored 1 or 0
				text = map[string]string{"true": "1", "false": "0"}[text]
			}
			row = append(row, text)
		}
		out = append(out, row)
	}
	if rows.err != nil {
		t.Fatal(rows.err)
	}
	return out
}

// TestXLSXHandWritten reads worksheets written by hand in ways excelize does
// not write them, as other programs do: namespace prefixes, rows and cells
// without references, rich and inline text, escapes, CDATA, error cells,
// ISO date cells, comments.
func TestXLSXHandWritten(t *testing.T) {
	sheet := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- written by hand -->
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<x:dimension ref="A1:F3"/>
<x:sheetData>
<x:row><x:c t="inlineStr"><x:is><x:t>id</x:t></x:is></x:c><x:c t="s"><x:v>0</x:v></x:c><x:c t='inlineStr'><x:is><x:r><x:t>bonifiq.</x:t></x:r><x:r><x:rPr/><x:t>birthday</x:t></x:r></x:is></x:c><x:c r="E1" t="s"><x:v>1</x:v></x:c></x:row>
<x:row r="3"><x:c><x:v>  42 </x:v></x:c><x:c t="str"><x:f>CONCAT("a","b")</x:f><x:v><![CDATA[a<b>&c]]></x:v></x:c><x:c t="d"><x:v>1988-04-12T00:00:00</x:v></x:c><x:c r="E3" t="e"><x:v>#N/A</x:v></x:c></x:row>
<x:row r="4"><x:c t="s"><x:v>2</x:v></x:c><x:c t="inlineStr"><x:is><x:t xml:space="preserve">Jos&#xE9; &amp; Ana_x000D_</x:t><x:rPh><x:t>phonetic</x:t></x:rPh></x:is></x:c><x:c t="d"><x:v>2023-11-07T05:31:56Z</x:v></x:c><x:c r="E4" t="b"><x:v>2</x:v></x:c></x:row>
</x:sheetData>
<x:mergeCells count="1"><x:mergeCell ref="$A$1:$A$1"/></x:mergeCells>
</x:worksheet>`
	sst := `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>name</t></si><si><r><t>tomticket.</t></r><r><t>language</t></r></si><si><t>5</t></si></sst>`
	path := filepath.Join(t.TempDir(), "hand.xlsx")
	writeZip(t, path, map[string]string{
		"_rels/.rels":                `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Dados &amp; mais" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="sheets/s.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="strings.xml"/></Relationships>`,
		"xl/sheets/s.xml":            sheet,
		"xl/strings.xml":             sst,
	})
	got := readAllRows(t, path)
	want := [][]string{
		{"id", "name", "bonifiq.birthday", "", "tomticket.language"},
		nil,
		{"42", "a<b>&c", "1988-04-12", "", "#N/A"},
		{"5", "José & Ana\r", "2023-11-07T05:31:56Z", "", "invalid boolean \"2\""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}

	d, diags := Load(registry.Default(), []string{path})
	var msgs []string
	for _, dg := range diags {
		msgs = append(msgs, dg.String())
	}
	p := path + ": 'Dados & mais'!"
	wantDiags := []string{
		p + "E3: tomticket.language: the cell holds the error #N/A (fix the formula, or replace the cell by a value)",
		p + "C4: bonifiq.birthday: 2023-11-07T05:31:56Z is a date and a time (bonifiq.birthday is a date: remove the time of day in the spreadsheet)",
		p + `E4: tomticket.language: unreadable cell: invalid boolean "2" (type the value again in a spreadsheet and save the workbook)`,
	}
	if diff := cmp.Diff(wantDiags, msgs); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	wantCust := []*engine.Customer{
		xcust("42", path, "Dados & mais", 3, 1, []string{"bonifiq", "tomticket"}, "name", "a<b>&c", "bonifiq.birthday", "1988-04-12"),
		xcust("5", path, "Dados & mais", 4, 1, []string{"bonifiq", "tomticket"}, "name", "José & Ana"),
	}
	if diff := cmp.Diff(wantCust, d.Customers); diff != "" {
		t.Errorf("customers (-want +got):\n%s", diff)
	}
}

func writeZip(t *testing.T, path string, parts map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range parts {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNumberFormats(t *testing.T) {
	for code, want := range map[string]styleKind{
		"General": styleNumber, "0": styleNumber, "0.00E+00": styleNumber, "#,##0.00": styleNumber, `"R$" #,##0.00`: styleNumber,
		"dd/mm/yyyy": styleDate, "d/m/yy": styleDate, "[$-416]d-mmm-yy;@": styleDate, "yyyy-mm-dd hh:mm:ss": styleDate,
		`dd" de "mmmm`: styleDate, "hh:mm": styleTime, "h:mm AM/PM": styleTime, "[h]:mm:ss": styleNumber, "mm:ss": styleTime,
		`"day"0`: styleNumber, `\d0`: styleNumber, "[Red]0.00": styleNumber,
	} {
		if got := formatCodeKind(code); got != want {
			t.Errorf("formatCodeKind(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestSerialTime(t *testing.T) {
	for _, tc := range []struct {
		serial   float64
		date1904 bool
		want     string
	}{
		{1, false, "1900-01-01T00:00:00Z"},
		{59, false, "1900-02-28T00:00:00Z"},
		{61, false, "1900-03-01T00:00:00Z"},
		{32245, false, "1988-04-12T00:00:00Z"},
		{45237.230509259, false, "2023-11-07T05:31:56Z"},
		{0, true, "1904-01-01T00:00:00Z"},
		{30783, true, "1988-04-12T00:00:00Z"},
		{60, false, ""},
		{-1, false, ""},
		{0, false, ""},
	} {
		got, ok := serialTime(tc.serial, tc.date1904)
		s := ""
		if ok {
			s = got.Format(time.RFC3339)
		}
		if s != tc.want {
			t.Errorf("serialTime(%v, %v) = %q, want %q", tc.serial, tc.date1904, s, tc.want)
		}
	}
}

// handParts are the parts of a minimal workbook around a worksheet.
var handParts = map[string]string{
	"_rels/.rels":                `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
	"xl/workbook.xml":            `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
	"xl/_rels/workbook.xml.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`,
	"xl/sharedStrings.xml":       `<sst><si><t>id</t></si><si><t>bonifiq.birthday</t></si></sst>`,
	"xl/styles.xml":              `<styleSheet><numFmts><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs></styleSheet>`,
}

// FuzzLoadXLSX loads arbitrary bytes as the worksheet of a workbook: Load
// never panics or hangs, and every error it reports is positioned in the
// workbook.
func FuzzLoadXLSX(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row><row r="2"><c><v>7</v></c><c s="1"><v>32245</v></c></row></sheetData></worksheet>`))
	f.Add([]byte(`<worksheet><sheetData><row><c t="inlineStr"><is><t>id</t></is></c></row><row><c t="str"><v><![CDATA[a&b]]></v></c></row></sheetData><mergeCells><mergeCell ref="A1:B1"/></mergeCells></worksheet>`))
	f.Add([]byte(`<?xml version="1.0"?><!-- c --><x:worksheet xmlns:x="s"><x:sheetData><x:row r="3"><x:c r="B3" t="e"><x:v>#N/A</x:v></x:c></x:row></x:sheetData></x:worksheet>`))
	f.Fuzz(func(t *testing.T, sheet []byte) {
		parts := map[string]string{"xl/worksheets/sheet1.xml": string(sheet)}
		for k, v := range handParts {
			parts[k] = v
		}
		path := filepath.Join(t.TempDir(), "fuzz.xlsx")
		writeZip(t, path, parts)
		checkDiagnostics(t, loadBounded(t, []string{path}), sheet, path)
	})
}
