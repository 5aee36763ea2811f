package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gocarina/gocsv"
	"github.com/xuri/excelize/v2"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/manifest"
)

// reportRow is one row of -report FILE.csv.
type reportRow struct {
	Address    string `csv:"address"`
	Action     string `csv:"action"`
	Status     string `csv:"status"`
	HTTPStatus string `csv:"http_status"`
	Message    string `csv:"message"`
	Source     string `csv:"source"`
}

// reportHeader is the report's header row, as reportRow's tags name it.
var reportHeader = []string{"address", "action", "status", "http_status", "message", "source"}

// writeReport writes one row per change, ready to fix in a spreadsheet and
// re-run. A path ending in .xlsx gets a workbook. Otherwise the CSV is what
// Excel opens in columns, with accents intact, in the locale the manifests
// came from: UTF-8 with a byte order mark, CRLF line ends, and the
// delimiter of the CSV manifests it reports on (manifest.Comma: ';' where
// they used ';', ',' otherwise). The file appears whole or not at all.
// noFormula keeps a spreadsheet from running a cell as a formula: a
// service's message (or an id) that starts with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe, which Excel and LibreOffice
// show as text (OWASP's advice on CSV injection).
func noFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeReport(path string, res *engine.Result, redact func(string) string) error {
	// Rows are made one at a time as they are written: a report of a
	// million changes is not held twice.
	row := func(it *engine.Item) reportRow {
		r := reportRow{Address: noFormula(it.Change.Address), Action: string(it.Change.Action), Status: string(it.Status), Message: noFormula(redact(it.Message)), Source: noFormula(it.Change.Source)}
		if it.HTTPStatus != 0 {
			r.HTTPStatus = fmt.Sprint(it.HTTPStatus)
		}
		return r
	}
	var files []string
	for _, it := range res.Items {
		if d := it.Change.Desired; d != nil && d.Source.File != "" && (len(files) == 0 || files[len(files)-1] != d.Source.File) {
			files = append(files, d.Source.File)
		}
	}
	tmp := path + ".tmp"
	var err error
	if strings.EqualFold(filepath.Ext(path), ".xlsx") {
		err = writeReportXLSX(tmp, res.Items, row)
	} else {
		err = writeReportCSV(tmp, res.Items, row, manifest.Comma(files))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// writeReportCSV writes a row per item as CSV with delimiter comma.
func writeReportCSV(path string, items []*engine.Item, row func(*engine.Item) reportRow, comma rune) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("\ufeff"); err != nil {
		f.Close()
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	w := csv.NewWriter(bw)
	w.Comma, w.UseCRLF = comma, true
	out := gocsv.NewSafeCSVWriter(w)
	if len(items) == 0 {
		err = gocsv.MarshalCSV(&[]reportRow{}, out) // the header alone
	} else {
		rows := make(chan any, 256)
		go func() {
			defer close(rows)
			for _, it := range items {
				rows <- row(it)
			}
		}()
		err = gocsv.MarshalChan(rows, out)
		for range rows { // what an error left unread
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeReportXLSX writes the rows as a workbook: one sheet, the header in
// bold and frozen, HTTP statuses as numbers.
func writeReportXLSX(path string, items []*engine.Item, row func(*engine.Item) reportRow) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "report"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	for i, width := range []float64{28, 10, 14, 11, 70, 36} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	header := make([]any, len(reportHeader))
	for i, h := range reportHeader {
		header[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	cells := make([]any, len(reportHeader))
	for i, it := range items {
		r := row(it)
		var status any
		if r.HTTPStatus != "" {
			var n int
			if _, err := fmt.Sscan(r.HTTPStatus, &n); err == nil {
				status = n
			}
		}
		cells[0], cells[1], cells[2], cells[3], cells[4], cells[5] = r.Address, r.Action, r.Status, status, r.Message, r.Source
		ref, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return err
		}
		if err := sw.SetRow(ref, cells); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Write(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
