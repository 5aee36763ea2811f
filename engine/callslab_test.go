package engine

import (
	"fmt"
	"slices"
	"testing"
)

// TestCallSlab checks what a provider's CallsIn builds in: lists with room
// for what was asked, paths joined, the same with a nil slab (on the heap),
// and, once reused, the same memory handed out again with no allocation.
func TestCallSlab(t *testing.T) {
	var s CallSlab
	fill := func(s *CallSlab) []Call {
		var out []Call
		for i := range 3000 { // more than a block of each
			names := append(s.Names(2), "email", "name")
			path := s.Concat("/v1/pvt/Customer/", string(rune('a'+i%26)), "/changetier")
			out = append(s.Calls(2), Call{Method: "POST", Path: path, Fields: names}, Call{Method: "PUT", Path: s.Concat("/x/", "1")})
		}
		return out
	}
	for _, sl := range []*CallSlab{nil, &s} {
		calls := fill(sl)
		if len(calls) != 2 || cap(calls) != 2 || calls[0].Path != "/v1/pvt/Customer/j/changetier" || calls[1].Path != "/x/1" ||
			len(calls[0].Fields) != 2 || cap(calls[0].Fields) != 2 || calls[0].Fields[1] != "name" {
			t.Fatalf("slab %p: %+v", sl, calls)
		}
		if got := sl.Concat(); got != "" {
			t.Fatalf("Concat() = %q", got)
		}
	}
	// Lists taken one after another do not overlap.
	a := append(s.Names(1), "a")
	b := append(s.Names(1), "b")
	a = append(a, "grown") // beyond its room: reallocated, b intact
	if b[0] != "b" || a[0] != "a" {
		t.Fatalf("lists overlap: %q %q", a, b)
	}
	s.reuse()
	fill(&s) // the blocks made once more, now kept
	allocs := testing.AllocsPerRun(5, func() {
		s.reuse()
		fill(&s)
	})
	if allocs != 0 {
		t.Fatalf("filling a reused slab allocates %.0f times, want none", allocs)
	}
}

// TestCallSlabFieldsOf: the slab's FieldsOf answers as Service.FieldsOf
// does, for fields of names it has seen (the same strings or equal ones)
// and of names it has not, past the answers it remembers, without
// allocating for names it remembers.
func TestCallSlabFieldsOf(t *testing.T) {
	svc := &Service{Name: "svc", Keys: []ServiceKey{
		{Field: "email", Call: "profile"},
		{Field: "name", Call: "profile"},
		{Field: "tier", Call: "tier"},
		{Field: "extra", Prefix: true, Call: "profile"},
	}}
	other := &Service{Name: "other", Keys: []ServiceKey{{Field: "email", Call: "profile"}}}
	var s CallSlab
	check := func(sv *Service, call string, fs Fields) {
		t.Helper()
		want := sv.FieldsOf([]string{"x"}, call, fs)
		if got := s.FieldsOf(sv, []string{"x"}, call, fs); !slices.Equal(got, want) {
			t.Errorf("FieldsOf(%s, %s, %v) = %q, want %q", sv.Name, call, fs, got, want)
		}
	}
	f := func(names ...string) Fields {
		var fs Fields
		for _, n := range names {
			fs = append(fs, Field{Name: n})
		}
		return fs
	}
	base := f("email", "extra.a", "name", "tier")
	for range 2 {
		check(svc, "profile", base)
		check(svc, "tier", base)
		check(other, "profile", base)
		check(svc, "profile", f("email", "extra.a", "name", "tier")) // equal names, other strings
		check(svc, "profile", f("email", "tier"))
		check(svc, "profile", f("email", "name", "tier", "zz"))
	}
	for i := range 2 * maxFieldsMemo { // more layouts than it remembers
		check(svc, "profile", f("email", fmt.Sprintf("extra.%d", i)))
	}
	check(svc, "profile", base)
	dst := make([]string, 0, 8)
	if n := testing.AllocsPerRun(100, func() { s.FieldsOf(svc, dst, "profile", base) }); n != 0 {
		t.Errorf("FieldsOf of remembered names: %.0f allocations", n)
	}
}

// TestRegistryIndex: a registry finds each of its services, and nothing
// else, by name, with a few services (looked through in order) and with
// many (by the index map).
func TestRegistryIndex(t *testing.T) {
	for _, n := range []int{1, 3, smallRegistry, smallRegistry + 1, 20} {
		var svcs []*Service
		for i := range n {
			svcs = append(svcs, testService(fmt.Sprintf("svc%02d", i), TokenBucket, 1))
		}
		r, err := NewRegistry(svcs...)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range r.Names() {
			if got := r.Index(name); got != i {
				t.Errorf("%d services: Index(%q) = %d, want %d", n, name, got, i)
			}
			if s := r.Service(string([]byte(name))); s == nil || s.Name != name {
				t.Errorf("%d services: Service(%q) = %v", n, name, s)
			}
		}
		for _, name := range []string{"", "svc", fmt.Sprintf("svc%02d", n), "svc00x"} {
			if got := r.Index(name); got != -1 || r.Service(name) != nil || r.Has(name) {
				t.Errorf("%d services: Index(%q) = %d, want -1", n, name, got)
			}
		}
	}
}
