package engine

import (
	"slices"
	"unsafe"
)

// projector projects customers onto providers, remembering the last field
// layout per provider: customers from one spreadsheet share their keys, so
// the projection (which keys reach the provider, under which names, in
// which order) is worked out once per layout instead of once per customer.
// A projector is not safe for concurrent use; each plan worker has its own.
type projector struct {
	reg  *Registry
	last []projLayout // per service, by registry index
}

type projLayout struct {
	names  []string // the customer field names the plan was made for
	fields []projStep
	params []projStep
	// fields again, as Wanted lists them
	wantNames []string
	wantSrc   []int
}

// projStep takes the customer's field at index src, named name in the
// provider.
type projStep struct {
	src  int
	name string
}

// project fills r with c's projection onto provider p, as Customer.project
// does, its fields from sl when it is not nil.
func (pj *projector) project(c *Customer, p string, r *Resource, sl *slabs) {
	i := pj.reg.Index(p)
	if i < 0 {
		pj.reg.project(c, p, r)
		return
	}
	l := pj.layout(c, i, p)
	*r = Resource{Provider: p, ID: c.ID, Source: c.Pos}
	if sl != nil {
		r.Fields = sl.fieldsOf(len(l.fields))
	} else {
		r.Fields = make(Fields, len(l.fields))
	}
	for k, st := range l.fields {
		r.Fields[k] = Field{Name: st.name, Value: c.Fields[st.src].Value}
	}
	if len(l.params) > 0 {
		r.Params = make(Fields, len(l.params))
		for k, st := range l.params {
			r.Params[k] = Field{Name: st.name, Value: c.Fields[st.src].Value}
		}
	}
}

// layout returns how c's fields project onto provider p, registry index i:
// computed once for every run of customers with the same field names.
func (pj *projector) layout(c *Customer, i int, p string) *projLayout {
	if pj.last == nil {
		pj.last = make([]projLayout, len(pj.reg.Names()))
	}
	l := &pj.last[i]
	if !sameNames(l.names, c.Fields) {
		l.names = l.names[:0]
		l.fields, l.params = l.fields[:0], l.params[:0]
		for j, f := range c.Fields {
			l.names = append(l.names, f.Name)
			switch info := pj.reg.projection(f.Name, p); {
			case info.name == "":
			case info.param:
				l.params = append(l.params, projStep{j, info.name})
			default:
				l.fields = append(l.fields, projStep{j, info.name})
			}
		}
		byName := func(a, b projStep) int {
			switch {
			case a.name < b.name:
				return -1
			case a.name > b.name:
				return 1
			}
			return 0
		}
		slices.SortFunc(l.fields, byName)
		slices.SortFunc(l.params, byName)
		l.wantNames, l.wantSrc = l.wantNames[:0], l.wantSrc[:0]
		for _, st := range l.fields {
			l.wantNames = append(l.wantNames, st.name)
			l.wantSrc = append(l.wantSrc, st.src)
		}
	}
	return l
}

func sameNames(names []string, fs Fields) bool {
	if len(names) != len(fs) {
		return false
	}
	for i, f := range fs {
		// The names are usually the very strings the layout was made
		// from: equal pointers, no bytes compared.
		if unsafe.StringData(names[i]) != unsafe.StringData(f.Name) || len(names[i]) != len(f.Name) {
			if names[i] != f.Name {
				return false
			}
		}
	}
	return true
}
