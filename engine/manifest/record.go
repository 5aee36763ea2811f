package manifest

import (
	"fmt"
	"slices"
	"strings"
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

// rule names a record rule, so that a CSV whose columns cannot break one
// skips it on every row.
type rule uint8

const (
	ruleTier rule = 1 << iota
	ruleTomTicketID
	rulePhone
	ruleCountry
	allRules = ruleTier | ruleTomTicketID | rulePhone | ruleCountry
)

// Managed bits of the providers, as engine.ProviderNames orders them.
var (
	bitInvisibleCollector = uint8(1) << engine.ProviderIndex(engine.InvisibleCollector)
	bitTomTicket          = uint8(1) << engine.ProviderIndex(engine.TomTicket)
)

// rulesFor returns the rules that records with these keys may break.
func rulesFor(paths []string, managed uint8) rule {
	var r rule
	for _, p := range paths {
		switch p {
		case pathTierNote, pathTierGrace:
			r |= ruleTier
		case pathIDType, pathInternal:
			r |= ruleTomTicketID
		case pathPhone:
			r |= rulePhone
		}
	}
	if managed&bitInvisibleCollector != 0 {
		r |= ruleCountry
	}
	return r
}

// checkRecord applies the rules that span keys of one record. bad lists the
// paths whose values were rejected, so that no rule reports them again.
func (l *loader) checkRecord(c *engine.Customer, bad []string, src recordSource, rules rule) {
	has := func(path string) bool {
		_, ok := c.Fields.Get(path)
		return ok || slices.Contains(bad, path)
	}
	errorAt := func(path, detail, format string, args ...any) {
		l.add(engine.Error, src.pos(path), src.label(path)+": "+fmt.Sprintf(format, args...), detail)
	}

	if rules&ruleTier != 0 && !has(pathTierID) {
		for _, p := range [...]string{pathTierNote, pathTierGrace} {
			if _, ok := c.Fields.Get(p); ok {
				l.add(engine.Error, src.pos(p), src.label(pathTierID)+": required when other tier keys are set",
					"changing the tier's grace period or comments needs the tier's id")
				break
			}
		}
	}

	if rules&ruleTomTicketID != 0 {
		idType, ok := c.Fields.Get(pathIDType)
		byEmail := ok && idType.S == "email"
		if _, ok := c.Fields.Get(pathInternal); ok && !byEmail && !slices.Contains(bad, pathIDType) {
			errorAt(pathInternal, "TomTicket keeps an internal_id only for customers identified by e-mail",
				"only allowed with tomticket.id_type: email")
		}
		if byEmail {
			if len(c.ID) > 250 || !validEmail(c.ID) {
				errorAt("id", "TomTicket identifies these customers by their e-mail address",
					"must be an e-mail address with tomticket.id_type: email")
			}
			if e, ok := c.Fields.Get(pathEmail); ok && (e.IsNull() || !strings.EqualFold(e.S, c.ID)) {
				errorAt(pathEmail, "TomTicket identifies the customer by the e-mail address in its id",
					"must equal the id %q with tomticket.id_type: email", c.ID)
			}
		}
	}

	if rules&rulePhone != 0 && c.Managed&bitTomTicket != 0 {
		if p, ok := c.Fields.Get(pathPhone); ok && len(p.S) > engine.TomTicketPhoneMax {
			if n := utf8.RuneCountInString(p.S); n > engine.TomTicketPhoneMax {
				errorAt(pathPhone, "TomTicket keeps phone numbers of up to 20 characters",
					"too long for tomticket: %d characters (at most %d)", n, engine.TomTicketPhoneMax)
			}
		}
	}
	if rules&ruleCountry != 0 && c.Managed&bitInvisibleCollector != 0 && !has(pathCountry) {
		errorAt(pathCountry, "InvisibleCollector needs the country on every create and update",
			"required when the customer is managed in invisiblecollector")
	}

	if c.Managed == 0 && len(bad) == 0 {
		if hint, report := src.unmanagedHint(); report {
			l.add(engine.Warning, c.Pos, src.label("")+": managed in no provider", hint)
		}
	}
}
