package state

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// TestSortParts: the parallel sort gives plain address order, whatever the
// number of parts, with ids that share their first eight bytes or are
// prefixes of one another.
func TestSortParts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rank := providerRanks(registry.Default().Names(), nil)
	var items []sortItem
	var want []string
	for range 1000 {
		p := registry.Default().Names()[r.IntN(len(registry.Default().Names()))]
		id := fmt.Sprintf("customer-%03d", r.IntN(500))
		id = id[:8+r.IntN(len(id)-7)] // "customer", "customer-", "customer-4"...
		if r.IntN(4) == 0 {
			id = fmt.Sprint(r.IntN(100))
		}
		addr := engine.Address(p, id)
		if slices.Contains(want, addr) {
			continue
		}
		it, err := newSortItem(addr, &engine.Entry{Provider: p, ID: id}, rank)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
		want = append(want, addr)
	}
	slices.Sort(want)
	for parts := 1; parts <= 5; parts++ {
		got := slices.Clone(items)
		sortParts(got, parts)
		var addrs []string
		for _, it := range got {
			addrs = append(addrs, it.addr)
		}
		if diff := cmp.Diff(want, addrs); diff != "" {
			t.Errorf("%d parts (-want +got):\n%s", parts, diff)
		}
	}
}

// TestWriteReportsFirstBadEntry: with entries checked in parallel batches,
// the error names the first bad entry in address order.
func TestWriteReportsFirstBadEntry(t *testing.T) {
	s := genState(50000)
	for _, addr := range []string{"invisiblecollector/1020000", "bonifiq/1020000", "bonifiq/1010000"} {
		s.Resources[addr].Fields = engine.Fields{{Name: "b"}, {Name: "a"}}
	}
	for range 5 {
		err := Write(io.Discard, s)
		if want := `writing state: bonifiq/1010000: fields: "b" and "a" are not sorted and unique`; err == nil || err.Error() != want {
			t.Fatalf("Write = %v, want %s", err, want)
		}
	}
}
