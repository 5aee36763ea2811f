package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pos is a position in a manifest. Line and Col count from 1; a zero Line
// means the position is the whole file.
type Pos struct {
	File string
	Line int32
	Col  int32
}

// String renders p as FILE:LINE:COL, FILE:LINE or FILE.
func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// FileLine renders p as FILE:LINE, the form plans use to point at a customer.
func (p Pos) FileLine() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	var buf [24]byte
	n := strconv.AppendInt(buf[:0], int64(p.Line), 10)
	return p.File + ":" + string(n) // one allocation: the concatenation
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
