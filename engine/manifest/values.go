package manifest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
)

// problem says why a value is rejected: msg follows the key's label in the
// diagnostic's summary, detail is the hint. The zero problem means the value
// is fine.
type problem struct {
	msg, detail string
}

func (p problem) ok() bool { return p.msg == "" }

// nullProblem is the problem of a null on a key that cannot be cleared.
var nullProblem = problem{"cannot be null", "the service cannot hold it empty; leave the key out to leave the field unmanaged"}

// value converts text, a scalar that is not null, to key k's canonical
// value. It is the hot path of loading a CSV: no allocation unless the value
// is rejected or its canonical form differs from text.
func value(k *engine.Key, text string) (engine.Value, problem) {
	switch k.Type {
	case engine.TypeString:
		if p := checkLen(k, text); !p.ok() {
			return engine.Value{}, p
		}
		if k == engine.IDKey && (text == "." || text == "..") {
			// The id is a path segment of the services' URLs
			// (/Customer/{id}/changestatus): "." and ".." would address
			// something else through any path-normalising proxy.
			return engine.Value{}, problem{fmt.Sprintf("%q cannot be an id: it is a path segment of the services' URLs", text),
				"use the customer's id in your own store"}
		}
		switch k.Path {
		case "id", "phone", "document":
			if looksScientific(text) {
				return engine.Value{}, problem{
					fmt.Sprintf("%q is a number in scientific notation", text),
					"a spreadsheet turned the number into scientific notation; format the column as text and export it again",
				}
			}
		}
		return engine.String(text), problem{}
	case engine.TypeEmail:
		if p := checkLen(k, text); !p.ok() {
			return engine.Value{}, p
		}
		if !engine.ValidEmail(text) {
			return engine.Value{}, problem{msg: fmt.Sprintf("invalid e-mail address %q", text)}
		}
		return engine.String(text), problem{}
	case engine.TypeBool:
		b, ok := parseBool(text)
		if !ok {
			return engine.Value{}, problem{fmt.Sprintf("invalid boolean %q", text), "write true or false (yes/no, sim/não, verdadeiro/falso and 1/0 work too)"}
		}
		return engine.Bool(b), problem{}
	case engine.TypeInt:
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil && !isIntRangeErr(err) {
			return engine.Value{}, problem{fmt.Sprintf("invalid integer %q", text), "write a whole number such as 3"}
		}
		if err != nil || i < k.Min || i > k.Max {
			return engine.Value{}, problem{fmt.Sprintf("%s is out of range", text), fmt.Sprintf("it must be from %d to %d", k.Min, k.Max)}
		}
		if engine.CanonicalInt(text) {
			return engine.Value{S: text, K: engine.KindInt}, problem{}
		}
		return engine.Int(i), problem{}
	case engine.TypeDate:
		if p := checkDate(text); !p.ok() {
			return engine.Value{}, p
		}
		return engine.String(text), problem{}
	case engine.TypeTime:
		bad := problem{fmt.Sprintf("invalid time %q", text), "write an RFC 3339 time such as 2023-11-07T05:31:56Z, or a date YYYY-MM-DD (midnight UTC)"}
		if len(text) == len("2006-01-02") {
			if p := checkDate(text); !p.ok() {
				if p.detail == noSuchDay {
					bad.detail = noSuchDay
				}
				return engine.Value{}, bad
			}
			return engine.String(text + "T00:00:00Z"), problem{}
		}
		t, err := time.Parse(time.RFC3339, text)
		if err != nil {
			return engine.Value{}, bad
		}
		return engine.String(t.UTC().Format(time.RFC3339Nano)), problem{}
	case engine.TypeEnum:
		for _, e := range k.Enum {
			if text == e {
				return engine.String(e), problem{}
			}
		}
		detail := didYouMean(text, k.Enum)
		if detail == "" {
			detail = "it must be one of " + strings.Join(k.Enum, ", ")
		}
		return engine.Value{}, problem{fmt.Sprintf("invalid value %q", text), detail}
	case engine.TypeCountry:
		if isCountry(text) {
			return engine.String(text), problem{}
		}
		if up := strings.ToUpper(text); isCountry(up) {
			return engine.Value{}, problem{fmt.Sprintf("invalid country code %q", text), fmt.Sprintf("did you mean %q? country codes are upper case", up)}
		}
		return engine.Value{}, problem{fmt.Sprintf("invalid country code %q", text), "use an ISO 3166-1 alpha-2 code such as BR, PT or US"}
	}
	return engine.Value{}, problem{msg: "unsupported key type"}
}

// checkLen checks a string's length in characters against k's bounds.
func checkLen(k *engine.Key, text string) problem {
	if k.MinLen > 0 && text == "" {
		return problem{"must not be empty", "leave the key out to leave the field unmanaged"}
	}
	if k.MaxLen > 0 && len(text) > k.MaxLen {
		if n := utf8.RuneCountInString(text); n > k.MaxLen {
			return problem{msg: fmt.Sprintf("too long: %d characters (at most %d)", n, k.MaxLen)}
		}
	}
	return problem{}
}

// looksScientific reports whether s is a number in scientific notation, as
// a spreadsheet writes a long number it takes for a float: 1.2E+11, 1,2E+11.
func looksScientific(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	if i == len(s) || (s[i] != 'e' && s[i] != 'E') {
		return false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start = i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i > start && i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseBool reads the booleans a spreadsheet may hold, in any case.
func parseBool(s string) (v, ok bool) {
	switch s {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	for _, t := range [...]string{"true", "yes", "sim", "verdadeiro"} {
		if strings.EqualFold(s, t) {
			return true, true
		}
	}
	for _, f := range [...]string{"false", "no", "não", "nao", "falso"} {
		if strings.EqualFold(s, f) {
			return false, true
		}
	}
	return false, false
}

func isIntRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

const noSuchDay = "there is no such day in the calendar"

// checkDate checks a YYYY-MM-DD calendar date.
func checkDate(s string) problem {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s[0:4]) || !digits(s[5:7]) || !digits(s[8:10]) {
		return problem{fmt.Sprintf("invalid date %q", s), "write it as YYYY-MM-DD, such as 1988-04-12"}
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
		return problem{fmt.Sprintf("invalid date %q", s), noSuchDay}
	}
	return problem{}
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
