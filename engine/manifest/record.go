package manifest

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
)

// recordSource tells the record rules where the keys of the record being
// checked are, in the YAML item or the CSV row it came from.
type recordSource interface {
	// pos returns the position of path's value, or, when the record does
	// not have it, of the closest thing that stands for it.
	pos(path string) engine.Pos
	// label returns the summary prefix for path, or for the whole record
	// when path is "".
	label(path string) string
	// unmanagedHint tells how to manage a record that is managed nowhere, or
	// returns "" when that was reported once for the whole file.
	unmanagedHint() (hint string, report bool)
}

// ruleSet says which of the registry's record rules (schema.rules,
// flattened in service order) a record may break: a CSV whose columns
// cannot break a rule skips it on every row. nil means every rule.
type ruleSet []bool

// rulesFor returns the rules that records with these keys, managed in these
// services, may break.
func (sc *schema) rulesFor(paths []string, managed uint64) ruleSet {
	var set ruleSet
	for i, rules := range sc.rules {
		for _, r := range rules {
			on := managed&(1<<i) != 0
			if on && len(r.paths) > 0 {
				on = false
				for _, p := range r.paths {
					if slices.Contains(paths, p) {
						on = true
						break
					}
				}
			}
			set = append(set, on)
		}
	}
	return set
}

// checkRecord applies the rules that span keys of one record: each managed
// service's Rules, and the stricter bounds a service puts on a shared key
// (TomTicket's 20-character phones). bad lists the paths whose values were
// rejected, so that no rule reports them again.
func (l *loader) checkRecord(c *engine.Customer, bad []string, src recordSource, rules ruleSet) {
	sc := l.sc
	errorAt := func(path, detail, format string, args ...any) {
		l.add(engine.Error, src.pos(path), src.label(path)+": "+fmt.Sprintf(format, args...), detail)
	}
	n := 0
	for i, svc := range sc.reg.Services() {
		managed := c.Managed&(1<<i) != 0
		for j := range sc.rules[i] {
			on := rules == nil || rules[n]
			n++
			if managed && on {
				l.checkRule(c, bad, src, svc, &sc.rules[i][j])
			}
		}
		if !managed {
			continue
		}
		for _, sk := range sc.lenChecks[i] {
			if v, ok := c.Fields.Get(sk.Field); ok && len(v.S) > sk.MaxLen {
				if n := utf8.RuneCountInString(v.S); n > sk.MaxLen {
					errorAt(sk.Field, sk.LongDetail, "too long for %s: %d characters (at most %d)", svc.Name, n, sk.MaxLen)
				}
			}
		}
	}

	if c.Managed == 0 && len(bad) == 0 {
		if hint, report := src.unmanagedHint(); report {
			l.add(engine.Warning, c.Pos, src.label("")+": managed in no provider", hint)
		}
	}
}

// checkRule applies one of service svc's record rules to c. It is apart
// from checkRecord so that only the records a rule applies to allocate its
// closures.
func (l *loader) checkRule(c *engine.Customer, bad []string, src recordSource, svc *engine.Service, r *serviceRule) {
	reg := l.sc.reg
	get := func(field string) (engine.Value, bool) { return c.Fields.Get(reg.Path(svc.Name, field)) }
	isBad := func(field string) bool { return slices.Contains(bad, reg.Path(svc.Name, field)) }
	for _, p := range r.rule.Check(c.ID, get, isBad) {
		at := reg.Path(svc.Name, p.At)
		label := at
		if p.Label != "" {
			label = reg.Path(svc.Name, p.Label)
		}
		l.add(engine.Error, src.pos(at), src.label(label)+": "+p.Summary, p.Detail)
	}
}
