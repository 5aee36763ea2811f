package manifest

import (
	"hash/maphash"
	"math/bits"

	"github.com/reconcile-dev/reconcile/engine"
)

// idIndex maps each id, folded to lower case, to the first customer that
// has it. It is an open-addressing hash table of positions in a customer
// list: 8 bytes a slot and no pointers, where a map[string]*Customer of a
// million ids takes 53 MB that the GC scans on every cycle. Loading large
// CSVs is bound by memory, so that is worth its few lines.
type idIndex struct {
	seed maphash.Seed
	// slots hold the hash's top 32 bits and 1 + the customer's position in
	// the list, or 0 when empty.
	slots []uint64
	n     int
}

// reserve makes room for n more ids without growing step by step.
func (x *idIndex) reserve(n int, list []*engine.Customer) {
	need := 2 * (x.n + n)
	if need <= len(x.slots) {
		return
	}
	if x.slots == nil {
		x.seed = maphash.MakeSeed()
	}
	old := x.slots
	x.slots = make([]uint64, 1<<bits.Len(uint(need-1)))
	for _, s := range old {
		if s != 0 {
			i := x.find(foldID(list[uint32(s)-1].ID), list)
			x.slots[i] = s
		}
	}
}

// find returns the slot that holds folded, or the empty slot where it
// belongs.
func (x *idIndex) find(folded string, list []*engine.Customer) int {
	h := maphash.String(x.seed, folded)
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return int(i)
		}
		if uint32(s>>32) == uint32(h>>32) && foldID(list[uint32(s)-1].ID) == folded {
			return int(i)
		}
	}
}

// lookup returns the first customer whose id folds to folded, or nil and
// the slot to insert it at.
func (x *idIndex) lookup(folded string, list []*engine.Customer) (*engine.Customer, int) {
	if 2*(x.n+1) > len(x.slots) {
		x.reserve(max(x.n, 64), list)
	}
	i := x.find(folded, list)
	if s := x.slots[i]; s != 0 {
		return list[uint32(s)-1], i
	}
	return nil, i
}

// insert records that the customer at position pos of the list has the
// id that the lookup returning slot i was for.
func (x *idIndex) insert(i int, folded string, pos int) {
	h := maphash.String(x.seed, folded)
	x.slots[i] = h>>32<<32 | uint64(pos+1)
	x.n++
}
