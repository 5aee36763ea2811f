package manifest

import (
	"hash/maphash"
	"math/bits"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/internal/prefault"
)

// idIndex maps each id, folded to lower case, to the first customer that
// has it. It is an open-addressing hash table of positions in a customer
// list: 8 bytes a slot and no pointers, where a map[string]*Customer of a
// million ids takes 53 MB that the GC scans on every cycle. Loading large
// CSVs is bound by memory, so that is worth its few lines.
type idIndex struct {
	seed   maphash.Seed
	seeded bool
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
	x.init()
	old := x.slots
	x.slots = make([]uint64, 1<<bits.Len(uint(need-1)))
	// Lookups read a slot before an insert writes it: map every page for
	// writing first (see Prefault in load.go).
	prefault.Slice(x.slots)
	for _, s := range old {
		if s != 0 {
			folded := foldID(list[uint32(s)-1].ID)
			i := x.find(folded, x.hash(folded), list)
			x.slots[i] = s
		}
	}
}

// init makes the hash's seed, once: before hash is called, which other
// goroutines may do (a CSV's workers hash the ids of their rows).
func (x *idIndex) init() {
	if !x.seeded {
		x.seed, x.seeded = maphash.MakeSeed(), true
	}
}

// hash returns the hash of an id folded to lower case. It only reads x.
func (x *idIndex) hash(folded string) uint64 {
	return maphash.String(x.seed, folded)
}

// find returns the slot that holds folded, whose hash is h, or the empty
// slot where it belongs.
func (x *idIndex) find(folded string, h uint64, list []*engine.Customer) int {
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
	x.init()
	return x.lookupHash(folded, x.hash(folded), list)
}

// lookupHash is lookup with the hash of folded.
func (x *idIndex) lookupHash(folded string, h uint64, list []*engine.Customer) (*engine.Customer, int) {
	if 2*(x.n+1) > len(x.slots) {
		x.reserve(max(x.n, 64), list)
	}
	i := x.find(folded, h, list)
	if s := x.slots[i]; s != 0 {
		return list[uint32(s)-1], i
	}
	return nil, i
}

// insert records that the customer at position pos of the list has the
// id that the lookup returning slot i was for.
func (x *idIndex) insert(i int, folded string, pos int) {
	x.insertHash(i, x.hash(folded), pos)
}

// insertHash is insert with the hash of the id.
func (x *idIndex) insertHash(i int, h uint64, pos int) {
	x.slots[i] = h>>32<<32 | uint64(pos+1)
	x.n++
}

// touch reads the slot where an id of hash h is looked up first, and
// returns it to be summed: looking up a batch of ids, touching all their
// slots first lets their cache misses overlap rather than come one at a
// time.
func (x *idIndex) touch(h uint64) uint64 {
	if len(x.slots) == 0 {
		return 0
	}
	return x.slots[h&uint64(len(x.slots)-1)]
}
