package engine

import (
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
