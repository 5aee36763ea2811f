package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Pos is a position in a manifest. Line and Col count from 1; a zero Line
// means the position is the whole file.
//
// In a workbook (.xlsx), Sheet names the worksheet, Line is the row and Col
// the column (1 is A), and the position renders as the spreadsheet names
// the cell: clientes.xlsx: Plan1!C5.
type Pos struct {
	File  string
	Line  int32
	Col   int32
	Sheet string
}

// String renders p as FILE:LINE:COL, FILE:LINE or FILE, or in a workbook as
// FILE: SHEET!CELL, FILE: SHEET row N or FILE: SHEET.
func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Sheet != "":
		return p.sheetString()
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// FileLine renders p as FILE:LINE, the form plans use to point at a customer;
// in a workbook, as FILE: SHEET!CELL.
func (p Pos) FileLine() string {
	if p.File == "" {
		return ""
	}
	if p.Sheet != "" {
		return p.sheetString()
	}
	if p.Line == 0 {
		return p.File
	}
	var buf [24]byte
	n := strconv.AppendInt(buf[:0], int64(p.Line), 10)
	return p.File + ":" + string(n) // one allocation: the concatenation
}

// sheetString renders a workbook position.
func (p Pos) sheetString() string {
	sheet := quoteSheet(p.Sheet)
	switch {
	case p.Line == 0:
		return p.File + ": " + sheet
	case p.Col == 0:
		return fmt.Sprintf("%s: %s row %d", p.File, sheet, p.Line)
	}
	return p.File + ": " + sheet + "!" + columnName(int(p.Col)) + strconv.Itoa(int(p.Line))
}

// quoteSheet quotes a sheet name as a spreadsheet formula does when it holds
// anything but letters, digits, _ and ., or starts with a digit:
// 'Clientes 2024'!C5.
func quoteSheet(name string) string {
	plain := true
	for i, r := range name {
		if !(r == '_' || r == '.' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// columnName returns a spreadsheet column's letters: 1 is A, 27 is AA.
func columnName(col int) string {
	if col < 1 {
		return "?"
	}
	var b [8]byte
	i := len(b)
	for col > 0 && i > 0 {
		col--
		i--
		b[i] = byte('A' + col%26)
		col /= 26
	}
	return string(b[i:])
}

// Severity says whether a diagnostic stops the command.
type Severity uint8

// Severities, most serious first.
const (
	Error Severity = iota
	Warning
	Note
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// Diagnostic is one problem found in the input, with where it is.
type Diagnostic struct {
	Severity Severity
	Pos      Pos
	Summary  string // what is wrong, e.g. `customers[3].email: invalid address "x@"`
	Detail   string // optional: a hint on how to fix it
}

// String renders d as "FILE:LINE:COL: summary (detail)"; warnings and notes
// say so after the position.
func (d Diagnostic) String() string {
	var b strings.Builder
	if s := d.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if d.Severity != Error {
		b.WriteString(d.Severity.String())
		b.WriteString(": ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(" (")
		b.WriteString(d.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Diagnostics is a list of problems, collected and reported all at once.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors counts the errors.
func (ds Diagnostics) Errors() int {
	n := 0
	for _, d := range ds {
		if d.Severity == Error {
			n++
		}
	}
	return n
}

// Sort orders ds by file (in the order given), line, column, then severity.
// fileOrder may be nil, in which case files sort by name.
func (ds Diagnostics) Sort(fileOrder []string) {
	rank := make(map[string]int, len(fileOrder))
	for i, f := range fileOrder {
		rank[f] = i + 1
	}
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		ra, rb := rank[a.Pos.File], rank[b.Pos.File]
		if ra != rb {
			if ra == 0 || rb == 0 {
				return cmp.Compare(rb, ra) // unranked (no file) first
			}
			return cmp.Compare(ra, rb)
		}
		return cmp.Or(
			strings.Compare(a.Pos.File, b.Pos.File),
			strings.Compare(a.Pos.Sheet, b.Pos.Sheet),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Severity, b.Severity),
		)
	})
}

// Error makes Diagnostics usable as an error: one diagnostic per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// with returns ds followed by more.
func (ds Diagnostics) with(more Diagnostics) Diagnostics { return append(ds, more...) }
