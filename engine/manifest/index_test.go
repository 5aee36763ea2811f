package manifest

import (
	"strconv"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

// TestIDIndex fills the index past several growths and finds every id again,
// ignoring letter case.
func TestIDIndex(t *testing.T) {
	var x idIndex
	var list []*engine.Customer
	const n = 20_000
	for i := range n {
		id := "Id-" + strconv.Itoa(i)
		c, slot := x.lookup(foldID(id), list)
		if c != nil {
			t.Fatalf("%s found before it was inserted: %s", id, c.ID)
		}
		x.insert(slot, foldID(id), len(list))
		list = append(list, &engine.Customer{ID: id})
	}
	x.reserve(n, list) // grows once more, rehashing everything
	for i := range n {
		for _, id := range []string{"Id-" + strconv.Itoa(i), "ID-" + strconv.Itoa(i), "id-" + strconv.Itoa(i)} {
			c, _ := x.lookup(foldID(id), list)
			if c == nil || c != list[i] {
				t.Fatalf("lookup(%s) = %v, want %s", id, c, list[i].ID)
			}
		}
	}
	if c, _ := x.lookup("id-"+strconv.Itoa(n), list); c != nil {
		t.Errorf("found %s, which was never inserted", c.ID)
	}
	if x.n != n || len(x.slots) < 2*n {
		t.Errorf("n = %d, %d slots", x.n, len(x.slots))
	}
}
