package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// PlanOptions shapes a plan.
type PlanOptions struct {
	// Targets limits the plan to matching addresses; `*` matches any run of
	// characters. Empty means every address.
	Targets []string
	// Providers plans each change's calls. A provider missing here plans no
	// calls (tests that only care about the diff).
	Providers map[string]Provider
}

// MakePlan diffs the desired customers against the state. Diagnostics
// report creates that lack what the service needs, and targets that match
// nothing; the plan is complete even then, for display.
func MakePlan(d *Desired, s *State, opts PlanOptions) (*Plan, Diagnostics) {
	p := &Plan{
		StateLineage: s.Lineage,
		StateSerial:  s.Serial,
		Providers:    d.Providers,
		Targets:      opts.Targets,
	}
	var diags Diagnostics
	targets := newMatcher(opts.Targets)
	buf := make([]byte, 0, 64)
	found := 0
	for _, c := range d.Customers {
		for i, prov := range ProviderNames {
			if c.Managed&(1<<i) == 0 {
				continue
			}
			buf = append(append(append(buf[:0], prov...), '/'), c.ID...)
			entry := s.Resources[string(buf)] // no allocation: the compiler sees the lookup
			if entry != nil {
				found++
			}
			if !targets.match(buf) {
				continue
			}
			ch := diffCustomer(c, prov, entry)
			if ch == nil {
				p.Summary.NoOp++
				continue
			}
			if ch.Action == ActionCreate {
				p.Summary.Create++
				if missing := missingForCreate(ch.Desired); len(missing) > 0 {
					diags = append(diags, Diagnostic{
						Severity: Error, Pos: c.Pos,
						Summary: fmt.Sprintf("%s: creating this customer needs %s", ch.Address, strings.Join(missing, ", ")),
						Detail:  "the service requires them to create a customer; add them to the manifest",
					})
				}
			} else {
				p.Summary.Update++
			}
			p.Changes = append(p.Changes, ch)
		}
	}
	if found < len(s.Resources) {
		p.Changes = append(p.Changes, removed(d, s, targets, &p.Summary)...)
	}
	slices.SortFunc(p.Changes, func(a, b *Change) int { return cmp.Compare(a.Address, b.Address) })
	for _, ch := range p.Changes {
		if pr := opts.Providers[ch.Provider]; pr != nil {
			ch.Calls = pr.Calls(ch)
		}
		if ch.Calls == nil {
			ch.Calls = []Call{}
		}
	}
	for _, t := range targets.unused() {
		diags = append(diags, Diagnostic{Severity: Warning, Summary: fmt.Sprintf("-target %q matches no address", t)})
	}
	return p, diags
}

// diffCustomer compares c's fields in prov with the state entry, and returns
// nil when nothing differs.
func diffCustomer(c *Customer, prov string, entry *Entry) *Change {
	var fields []FieldChange
	for _, f := range c.Fields {
		name := FieldName(f.Name, prov)
		if name == "" {
			continue
		}
		if k := FieldKey(prov, name); k == nil || k.Param {
			continue
		}
		if entry == nil {
			fields = append(fields, FieldChange{Name: name, After: f.Value})
			continue
		}
		old, ok := entry.Fields.Get(name)
		switch {
		case !ok:
			fields = append(fields, FieldChange{Name: name, After: f.Value})
		case old != f.Value:
			before := old
			fields = append(fields, FieldChange{Name: name, Before: &before, After: f.Value})
		}
	}
	if entry != nil && len(fields) == 0 {
		return nil
	}
	r := c.Resource(prov)
	ch := &Change{
		Address:  r.Address(),
		Provider: prov,
		ID:       c.ID,
		Action:   ActionUpdate,
		Source:   c.Pos.FileLine(),
		Desired:  r,
		Prior:    entry.Digest(),
	}
	if entry == nil {
		ch.Action = ActionCreate
	} else {
		ch.IDs = entry.IDs
	}
	slices.SortFunc(fields, func(a, b FieldChange) int { return cmp.Compare(a.Name, b.Name) })
	ch.Fields = fields
	return ch
}

// createNeeds lists what each service needs to create a customer (SPEC 3.1).
var createNeeds = map[string][]string{
	BonifiQ:            {"name"},
	InvisibleCollector: {"name", "vat_number", "country"},
	TomTicket:          {"name"},
}

func missingForCreate(r *Resource) []string {
	var missing []string
	for _, name := range createNeeds[r.Provider] {
		if v, ok := r.Fields.Get(name); !ok || v.IsNull() {
			missing = append(missing, name)
		}
	}
	return missing
}

// removed plans the state entries that the manifests no longer manage.
func removed(d *Desired, s *State, targets *matcher, sum *Summary) []*Change {
	byID := make(map[string]*Customer, len(d.Customers))
	for _, c := range d.Customers {
		byID[c.ID] = c
	}
	var out []*Change
	for addr, e := range s.Resources {
		if c := byID[e.ID]; c != nil && c.ManagedIn(e.Provider) {
			continue
		}
		if !targets.match([]byte(addr)) {
			continue
		}
		ch := &Change{Address: addr, Provider: e.Provider, ID: e.ID, Action: ActionForget, IDs: e.IDs, Prior: e.Digest()}
		if cfg, ok := d.Providers[e.Provider]; ok && cfg.OnRemove == OnRemoveDisable && e.Provider == BonifiQ {
			ch.Action = ActionDisable
			fc := FieldChange{Name: "enabled", After: Bool(false)}
			if v, ok := e.Fields.Get("enabled"); ok {
				fc.Before = &v
			}
			ch.Fields = []FieldChange{fc}
			ch.Desired = &Resource{Provider: e.Provider, ID: e.ID, Fields: Fields{{Name: "enabled", Value: Bool(false)}}}
			sum.Disable++
		} else {
			sum.Forget++
		}
		out = append(out, ch)
	}
	return out
}

// matcher matches addresses against -target patterns.
type matcher struct {
	patterns []string
	used     []bool
}

func newMatcher(patterns []string) *matcher {
	return &matcher{patterns: patterns, used: make([]bool, len(patterns))}
}

func (m *matcher) match(addr []byte) bool {
	if len(m.patterns) == 0 {
		return true
	}
	hit := false
	for i, p := range m.patterns {
		if Glob(p, string(addr)) {
			m.used[i] = true
			hit = true
		}
	}
	return hit
}

func (m *matcher) unused() []string {
	var out []string
	for i, u := range m.used {
		if !u {
			out = append(out, m.patterns[i])
		}
	}
	return out
}

// Glob reports whether s matches pattern, where `*` matches any run of
// characters (slashes included) and everything else matches itself.
func Glob(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s = s[star:]
	rest := pattern[star+1:]
	for {
		if Glob(rest, s) {
			return true
		}
		if s == "" {
			return false
		}
		s = s[1:]
	}
}

// ProviderCalls is how many calls apply will make to one provider and how
// long they will take at its rate limit.
type ProviderCalls struct {
	Provider string
	Calls    int
	Rate     float64
	Duration time.Duration
}

// CallStats counts the planned calls per provider, in provider order.
func (p *Plan) CallStats() []ProviderCalls {
	counts := map[string]int{}
	for _, ch := range p.Changes {
		counts[ch.Provider] += len(ch.Calls)
	}
	var out []ProviderCalls
	for _, name := range ProviderNames {
		n := counts[name]
		if n == 0 {
			continue
		}
		cfg, ok := p.Providers[name]
		if !ok {
			cfg = DefaultProviderConfig(name)
		}
		pc := ProviderCalls{Provider: name, Calls: n, Rate: cfg.RateLimit}
		if cfg.RateLimit > 0 {
			pc.Duration = time.Duration(math.Ceil(float64(n) / cfg.RateLimit * float64(time.Second)))
		}
		out = append(out, pc)
	}
	return out
}
