package manifest

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/reconcile-dev/reconcile/engine"
)

// dateFormat is the date_format of a sources entry or of one of its
// columns: how the spreadsheet writes dates and times, with the literal
// tokens DD, MM, YYYY, hh, mm and ss ("DD/MM/YYYY", "MM/DD/YYYY hh:mm").
// Any other character stands for itself.
type dateFormat struct {
	text  string // as written
	where string // "sources[0].date_format in m.yaml", for hints
	parts []datePart
	// hasTime says the format has hh and mm (and maybe ss).
	hasTime bool
}

// datePart is a token or a literal of a dateFormat.
type datePart struct {
	tok   byte   // 'D', 'M', 'Y', 'h', 'm', 's', or 0 for a literal
	lit   string // the literal
	exact bool   // the token takes exactly its width: a token follows
}

// dateTokens are the tokens of a date_format: the date's first, which
// every format needs.
var dateTokens = []struct {
	text string
	tok  byte
}{{"YYYY", 'Y'}, {"DD", 'D'}, {"MM", 'M'}, {"hh", 'h'}, {"mm", 'm'}, {"ss", 's'}}

// dateFormatHint lists what a date_format is made of.
const dateFormatHint = "write it with DD, MM, YYYY (and hh:mm or hh:mm:ss for times), such as DD/MM/YYYY, MM/DD/YYYY, YYYY-MM-DD or DD.MM.YYYY hh:mm"

// parseDateFormat reads a date_format, or says what is wrong with it.
func parseDateFormat(text string) (*dateFormat, string) {
	df := &dateFormat{text: text}
	seen := map[byte]bool{}
	for i := 0; i < len(text); {
		matched := false
		for _, t := range dateTokens {
			if strings.HasPrefix(text[i:], t.text) {
				if seen[t.tok] {
					return nil, fmt.Sprintf("%s appears twice", t.text)
				}
				seen[t.tok] = true
				df.parts = append(df.parts, datePart{tok: t.tok})
				i += len(t.text)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if c := text[i]; strings.IndexByte("DMYhmsdy", c) >= 0 {
			j := i
			for j < len(text) && text[j] == c {
				j++
			}
			return nil, fmt.Sprintf("unknown token %q", text[i:j])
		}
		j := i + 1
		for j < len(text) && strings.IndexByte("DMYhmsdy", text[j]) < 0 {
			j++
		}
		df.parts = append(df.parts, datePart{lit: text[i:j]})
		i = j
	}
	for _, t := range dateTokens[:3] {
		if !seen[t.tok] {
			return nil, "missing " + t.text
		}
	}
	switch {
	case seen['s'] && !seen['m'], seen['m'] && !seen['h'], seen['h'] && !seen['m']:
		return nil, "a time is hh:mm or hh:mm:ss"
	}
	df.hasTime = seen['h']
	for i := range df.parts {
		if df.parts[i].tok != 0 && i+1 < len(df.parts) && df.parts[i+1].tok != 0 {
			df.parts[i].exact = true
		}
	}
	return df, ""
}

// dateFields are the parts of a date and time.
type dateFields struct{ y, mo, d, h, mi, s int }

// parse reads text in the format. DD, MM, hh, mm and ss take one or two
// digits (Excel writes 4/12/1988 in the United States), YYYY four, unless
// another token follows with no separator.
func (df *dateFormat) parse(text string) (dateFields, bool) {
	var f dateFields
	i := 0
	for _, p := range df.parts {
		if p.tok == 0 {
			if !strings.HasPrefix(text[i:], p.lit) {
				return f, false
			}
			i += len(p.lit)
			continue
		}
		width, least := 2, 1
		if p.tok == 'Y' {
			width, least = 4, 4
		}
		if p.exact {
			least = width
		}
		n, j := 0, i
		for j < len(text) && j-i < width && isDigit(text[j]) {
			n = n*10 + int(text[j]-'0')
			j++
		}
		if j-i < least {
			return f, false
		}
		i = j
		switch p.tok {
		case 'Y':
			f.y = n
		case 'M':
			f.mo = n
		case 'D':
			f.d = n
		case 'h':
			f.h = n
		case 'm':
			f.mi = n
		case 's':
			f.s = n
		}
	}
	return f, i == len(text)
}

// dateValue converts text, written in format df, to key k's canonical
// value: YYYY-MM-DD for a date, RFC 3339 in UTC for a time (a spreadsheet's
// dates carry no time zone).
func dateValue(k *engine.Key, text string, df *dateFormat) (engine.Value, problem) {
	f, ok := df.parse(text)
	if !ok {
		return engine.Value{}, problem{fmt.Sprintf("invalid date %q", text),
			fmt.Sprintf("not in the declared format %s (%s)", df.text, df.where)}
	}
	if f.mo < 1 || f.mo > 12 || f.d < 1 || f.d > daysIn(f.mo, f.y) {
		return engine.Value{}, problem{fmt.Sprintf("invalid date %q", text), noSuchDay}
	}
	if f.h > 23 || f.mi > 59 || f.s > 59 {
		return engine.Value{}, problem{fmt.Sprintf("invalid time %q", text), "there is no such time of day"}
	}
	if k.Type == engine.TypeDate {
		if f.h != 0 || f.mi != 0 || f.s != 0 {
			return engine.Value{}, problem{fmt.Sprintf("%q has a time of day", text), k.Path + " is a date, without a time"}
		}
		return engine.String(formatDate(f, false)), problem{}
	}
	return engine.String(formatDate(f, true)), problem{}
}

// formatDate renders f as YYYY-MM-DD, or with withTime as RFC 3339 in UTC.
func formatDate(f dateFields, withTime bool) string {
	b := make([]byte, 0, 20)
	b = appendDigits(b, f.y, 4)
	b = appendDigits(append(b, '-'), f.mo, 2)
	b = appendDigits(append(b, '-'), f.d, 2)
	if withTime {
		b = appendDigits(append(b, 'T'), f.h, 2)
		b = appendDigits(append(b, ':'), f.mi, 2)
		b = appendDigits(append(b, ':'), f.s, 2)
		b = append(b, 'Z')
	}
	return string(b)
}

func appendDigits(b []byte, n, width int) []byte {
	var d [8]byte
	i := len(d)
	for n > 0 || len(d)-i < width {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[i:]...)
}

func isDateKey(k *engine.Key) bool {
	return k.Type == engine.TypeDate || k.Type == engine.TypeTime
}

// localDateProblem explains a date that is not in the canonical form and
// was read without a date_format: when it looks like a spreadsheet's local
// date (12/04/1988, 25.12.1990 10:30), the hint names the date_format that
// reads it, or both when the day and the month could be swapped. where says
// where to declare it.
func localDateProblem(text string, p problem, where string) problem {
	a, b, sep, rest, ok := splitLocalDate(text)
	if !ok {
		return p
	}
	timeFmt := ""
	switch strings.Count(rest, ":") {
	case 1:
		timeFmt = " hh:mm"
	case 2:
		timeFmt = " hh:mm:ss"
	}
	dm := "DD" + sep + "MM" + sep + "YYYY" + timeFmt
	md := "MM" + sep + "DD" + sep + "YYYY" + timeFmt
	switch {
	case a > 12 && b <= 12:
		p.detail = fmt.Sprintf("declare how dates are written: date_format: %s %s", dm, where)
	case b > 12 && a <= 12:
		p.detail = fmt.Sprintf("declare how dates are written: date_format: %s %s", md, where)
	case a <= 12 && b <= 12:
		p.detail = fmt.Sprintf("%s could be day %d of month %d or day %d of month %d: declare how dates are written, date_format: %s or %s, %s",
			text[:len(text)-len(rest)], a, b, b, a, dm, md, where)
	}
	return p
}

// splitLocalDate splits N{1,2} SEP N{1,2} SEP NNNN [ rest ], SEP one of / . -.
func splitLocalDate(text string) (a, b int, sep, rest string, ok bool) {
	num := func(s string, min, max int) (int, string, bool) {
		n, i := 0, 0
		for i < len(s) && i < max && isDigit(s[i]) {
			n = n*10 + int(s[i]-'0')
			i++
		}
		return n, s[i:], i >= min
	}
	s := text
	if a, s, ok = num(s, 1, 2); !ok || s == "" || strings.IndexByte("/.-", s[0]) < 0 {
		return 0, 0, "", "", false
	}
	sep, s = s[:1], s[1:]
	if b, s, ok = num(s, 1, 2); !ok || !strings.HasPrefix(s, sep) {
		return 0, 0, "", "", false
	}
	var y int
	if y, s, ok = num(s[1:], 4, 4); !ok || y == 0 || (s != "" && s[0] != ' ' && s[0] != 'T') {
		return 0, 0, "", "", false
	}
	return a, b, sep, s, true
}

// parseDateFormatNode reads a date_format value at label.
func (f *yamlFile) parseDateFormatNode(v *yaml.Node, label string) *dateFormat {
	text, ok := f.scalar(v, label, "a date format", "leave the key out to read dates as YYYY-MM-DD")
	if !ok {
		return nil
	}
	df, msg := parseDateFormat(text)
	if df == nil {
		f.errorf(v, dateFormatHint, "%s: invalid date format %q: %s", label, text, msg)
		return nil
	}
	df.where = label + " in " + f.path
	return df
}

// columnSpec reads a column mapping written as a mapping, for a column with
// its own date format: "Nascimento": {key: bonifiq.birthday, date_format:
// MM/DD/YYYY}. It returns the node of the key path.
func (f *yamlFile) columnSpec(n *yaml.Node, label string) (key *yaml.Node, df *dateFormat) {
	for _, p := range f.pairs(n, label, true) {
		keyLabel := join(label, p.key.Value)
		switch p.key.Value {
		case "key":
			key = p.val
		case "date_format":
			df = f.parseDateFormatNode(p.val, keyLabel)
		default:
			f.errorf(p.key, didYouMean(p.key.Value, []string{"key", "date_format"}), "%s: unknown key", keyLabel)
		}
	}
	if key == nil {
		f.errorf(n, "write {key: bonifiq.birthday, date_format: DD/MM/YYYY}", "%s: missing key", label)
	}
	return key, df
}

// dateFormatFor returns the date format that reads slot s: its column's, or
// its source's, or nil.
func (t *table) dateFormatFor(s *slot, colFormat *dateFormat) *dateFormat {
	if !isDateKey(s.key) {
		return nil
	}
	if colFormat != nil {
		return colFormat
	}
	if t.src != nil {
		return t.src.dateFormat
	}
	return nil
}

// dateWhere tells where a date_format for this table's dates goes.
func (t *table) dateWhere() string {
	if t.src != nil {
		return "on " + t.src.label + " in " + t.src.manifest
	}
	return "on a sources entry that reads " + t.file
}
