package conformance

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/manifest"
)

// key is one key the checks exercise: a row of the wire table, or one
// member of a family.
type key struct {
	name string // the field's name inside the service: "tier.id", "custom_fields.cf_conf"
	row  *engine.ServiceKey
	wire string // its name in request bodies, the member filled in
}

func (k key) clearable() bool { return !k.row.NotNull && !k.row.Param }

// keysOf lists the keys of svc that reach the service, in table order.
func keysOf(svc *engine.Service) []key {
	var out []key
	for i := range svc.Keys {
		row := &svc.Keys[i]
		if row.Param {
			continue
		}
		k := key{name: row.Field, row: row, wire: row.Wire}
		if row.Prefix {
			k.name = row.Field + "." + Member
			k.wire = strings.Replace(row.Wire, "%s", Member, 1)
		}
		out = append(out, k)
	}
	return out
}

// value is a manifest value: a YAML scalar, nil for null.
type value = any

// generate returns a valid manifest value for k, for customer n: variant 1
// is what a create writes, variant 2 what the update writes. Strings carry
// n, so that values a service keeps unique (VAT numbers, e-mail addresses)
// differ between customers; they carry a non-ASCII letter, so that the
// encoding is exercised. Times are written as a manifest may write them
// (an offset, a date) and compared in their canonical form.
func generate(row *engine.ServiceKey, name string, n, variant int) value {
	pick := func(vs ...string) string { return vs[(variant-1)%len(vs)] }
	switch row.Type {
	case engine.TypeBool:
		// A create writes false: flags default to true in two of the three
		// services, so a create that drops the key reads back wrong.
		return variant == 2
	case engine.TypeInt:
		var cands []int64
		for _, v := range []int64{row.Min + 1, row.Min + 2, row.Min, row.Max, row.Max - 1} {
			if v >= row.Min && v <= row.Max && !slices.Contains(cands, v) {
				cands = append(cands, v)
			}
		}
		if len(cands) == 0 {
			return row.Min
		}
		return cands[(variant-1)%len(cands)]
	case engine.TypeDate:
		return pick("1990-05-17", "2001-12-31")
	case engine.TypeTime:
		// An offset and a fraction, then a date (midnight UTC).
		return pick("2023-11-07T07:31:56.5+02:00", "2024-02-29")
	case engine.TypeCountry:
		return pick("PT", "BR")
	case engine.TypeEnum:
		if len(row.Enum) == 0 {
			return ""
		}
		// The last member first: services default to the first.
		if variant == 1 {
			return row.Enum[len(row.Enum)-1]
		}
		return row.Enum[0]
	case engine.TypeEmail:
		s := fmt.Sprintf("conf.%s.%d.%d@example.com", slug(name), n, variant)
		if row.MaxLen > 0 && len(s) > row.MaxLen {
			s = fmt.Sprintf("c%d.%d@ex.io", n, variant)
		}
		return s
	}
	s := fmt.Sprintf("%s %d.%d ção", name, n, variant)
	if row.MaxLen > 0 && utf8.RuneCountInString(s) > row.MaxLen {
		s = fmt.Sprintf("%d.%d ção", n, variant)
		if utf8.RuneCountInString(s) > row.MaxLen {
			s = string([]rune(s)[:row.MaxLen])
		}
	}
	for utf8.RuneCountInString(s) < row.MinLen {
		s += "x"
	}
	return s
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(s))
}

// record is one customer as a manifest declares it: its id, its Params and
// its fields, by name inside the service (a nil value is null).
type record struct {
	n      int // the customer's number, which its values carry
	id     string
	params map[string]value
	fields map[string]value
}

func (r record) with(name string, v value) record {
	out := record{n: r.n, id: r.id, params: r.params, fields: maps.Clone(r.fields)}
	out.fields[name] = v
	return out
}

// yaml renders r as a manifest of one customer managed in svc.
func (r record) yaml(svc *engine.Service) ([]byte, error) {
	cust := map[string]any{"id": r.id}
	block := map[string]any{}
	put := func(name string, v value) {
		m := block
		if k := svc.Key(name); k != nil && k.Shared {
			m = cust
		}
		parts := strings.Split(name, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	for name, v := range r.params {
		put(name, v)
	}
	for name, v := range r.fields {
		put(name, v)
	}
	cust[svc.Name] = block
	return yaml.Marshal(map[string]any{"customers": []any{cust}})
}

// loaded is a record as the manifest loader reads it.
type loaded struct {
	rec      record
	res      *engine.Resource // what a plan sends: canonical values
	problems []engine.Problem // the service's Rules' verdict
}

// load reads r through the manifest loader, as a plan would, and applies
// the service's Rules to it. An error means the loader rejects what the
// Rules accept: a value the generator got wrong, or a table the loader reads
// otherwise.
func (h *harness) load(r record) (*loaded, error) {
	data, err := r.yaml(h.svc)
	if err != nil {
		return nil, err
	}
	h.files++
	path := filepath.Join(h.dir, fmt.Sprintf("m%04d.yaml", h.files))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	desired, diags := manifest.Load(h.reg, []string{path})
	if len(desired.Customers) != 1 {
		return nil, fmt.Errorf("the manifest loader read %d customers from\n%s%v", len(desired.Customers), data, diags)
	}
	c := desired.Customers[0]
	out := &loaded{rec: r, res: h.reg.Resource(c, h.svc.Name)}
	for _, rule := range h.svc.Rules {
		on := len(rule.Fields) == 0
		for _, f := range rule.Fields {
			if _, ok := c.Fields.Get(h.reg.Path(h.svc.Name, f)); ok {
				on = true
			}
		}
		if !on || rule.Check == nil {
			continue
		}
		get := func(f string) (engine.Value, bool) { return c.Fields.Get(h.reg.Path(h.svc.Name, f)) }
		out.problems = append(out.problems, rule.Check(c.ID, get, func(string) bool { return false })...)
	}
	if len(out.problems) == 0 && diags.HasErrors() {
		return nil, fmt.Errorf("the manifest loader rejects a record the service's Rules accept:\n%s%v", data, diags)
	}
	if len(out.problems) == 0 && len(out.res.Fields) != len(r.fields) {
		return nil, fmt.Errorf("the plan projects %d fields of the %d written:\n%s", len(out.res.Fields), len(r.fields), data)
	}
	return out, nil
}

// arrangement asks for a customer that the Rules accept in every state it
// goes through.
type arrangement struct {
	n int
	// must lists the keys the customer has to carry (beside CreateNeeds).
	must []string
	// minimal starts from CreateNeeds and must, adding what the Rules ask
	// for; otherwise from every key, dropping what the Rules refuse.
	minimal bool
	// exclude lists keys the customer must not carry.
	exclude []string
	// states returns the later states of the customer (its updates).
	states func(base record) []record
}

// arrangeAs returns a record for a: an id and Params tried in turn, keeping
// the arrangement that keeps the most keys. ok is false when no id and
// Params satisfy the Rules.
func (h *harness) arrangeAs(a arrangement) (best record, ok bool, err error) {
	keep := map[string]bool{}
	for _, f := range h.svc.CreateNeeds {
		keep[f] = true
	}
	for _, f := range a.must {
		keep[f] = true
	}
	full := map[string]value{}
	for _, k := range h.keys {
		full[k.name] = generate(k.row, k.name, a.n, 1)
	}
	bestN := -1
	for _, id := range h.ids(a.n) {
		for _, params := range h.paramSets() {
			r := record{n: a.n, id: id, params: params, fields: map[string]value{}}
			for name, v := range full {
				if (!a.minimal || keep[name]) && !slices.Contains(a.exclude, name) {
					r.fields[name] = v
				}
			}
			good := false
			for range len(h.keys) + 1 {
				states := []record{r}
				if a.states != nil {
					states = append(states, a.states(r)...)
				}
				var drop, need []string
				stuck := false
				for _, s := range states {
					l, err := h.load(s)
					if err != nil {
						return record{}, false, err
					}
					for _, p := range l.problems {
						_, has := r.fields[p.Label]
						_, known := full[p.Label]
						_, at := r.fields[p.At]
						switch {
						case p.Label != "" && !has && known && !slices.Contains(a.exclude, p.Label):
							need = append(need, p.Label)
						case at && !keep[p.At]:
							drop = append(drop, p.At)
						default:
							stuck = true
						}
					}
				}
				if stuck {
					break
				}
				if len(drop) == 0 && len(need) == 0 {
					good = true
					break
				}
				for _, f := range need {
					r.fields[f] = full[f]
				}
				for _, f := range drop {
					delete(r.fields, f)
				}
			}
			if good && len(r.fields) > bestN {
				best, bestN = r, len(r.fields)
			}
		}
	}
	return best, bestN >= 0, nil
}

// ids lists the ids a customer n may have: a plain one, and each e-mail
// key's value (TomTicket identifies customers by e-mail with id_type email).
func (h *harness) ids(n int) []string {
	out := []string{fmt.Sprintf("conf-%s-%d", h.svc.Name, n)}
	for _, k := range h.keys {
		if k.row.Type == engine.TypeEmail {
			out = append(out, generate(k.row, k.name, n, 1).(string))
		}
	}
	return out
}

// paramSets lists the Params a customer may carry: none, and each member
// of each enum Param. Other Params (a path id, a reason) are left out: a
// made-up value would address no customer.
func (h *harness) paramSets() []map[string]value {
	sets := []map[string]value{{}}
	for i := range h.svc.Keys {
		row := &h.svc.Keys[i]
		if !row.Param || row.Type != engine.TypeEnum {
			continue
		}
		var next []map[string]value
		for _, s := range sets {
			next = append(next, s)
			for _, e := range row.Enum {
				m := maps.Clone(s)
				m[row.Field] = e
				next = append(next, m)
			}
		}
		sets = next
	}
	return sets
}
