package state

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/reconcile-dev/reconcile/engine"
)

// Write encodes s to w in the file format: the header line, then one line
// per entry in address order, each entry.AppendJSON. It does not change
// s.Serial. It checks the entries as it goes, so that what it writes is
// what Read reads back: a state that Read would refuse gives an error, and
// w may then have received part of it.
//
// Entries are sorted and encoded in parallel, in batches written in order.
//
// known lists the services whose addresses the state may hold; with none,
// any well-formed service name is written.
func Write(w io.Writer, s *engine.State, known ...string) error {
	if s == nil {
		return fmt.Errorf("writing state: no state")
	}
	if !validLineage(s.Lineage) {
		return fmt.Errorf("writing state: lineage %q is not a UUID", s.Lineage)
	}
	if s.Serial < 0 {
		return fmt.Errorf("writing state: serial %d is negative", s.Serial)
	}
	rank := providerRanks(known, s)
	items := make([]sortItem, 0, len(s.Resources))
	for addr, e := range s.Resources {
		it, err := newSortItem(addr, e, rank)
		if err != nil {
			return fmt.Errorf("writing state: %w", err)
		}
		items = append(items, it)
	}
	sortItems(items)

	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(append(appendHeader(nil, s), '\n')); err != nil {
		return err
	}
	err := encodeBatches(items, func(b []byte) error {
		_, err := bw.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// encodeBatches encodes items in batches, in parallel, and hands the
// batches to write in order. The first bad entry in order is the error.
func encodeBatches(items []sortItem, write func([]byte) error) error {
	const batchLen = 2048
	type batch struct {
		items []sortItem
		b     []byte
		err   error
		done  chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *batch, workers)
	order := make(chan *batch, 2*workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		defer close(work)
		defer close(order)
		for len(items) > 0 {
			n := min(batchLen, len(items))
			bt := &batch{items: items[:n], done: make(chan struct{})}
			items = items[n:]
			select {
			case order <- bt:
			case <-stop:
				return
			}
			select {
			case work <- bt:
			case <-stop:
				return
			}
		}
	})
	free := make(chan []byte, 3*workers) // encoded batches' buffers, for reuse
	for range workers {
		wg.Go(func() {
			for bt := range work {
				var b []byte
				select {
				case b = <-free:
				default:
				}
				bt.b, bt.err = encodeItems(b[:0], bt.items)
				close(bt.done)
			}
		})
	}
	for bt := range order {
		<-bt.done
		if bt.err != nil {
			return bt.err
		}
		if err := write(bt.b); err != nil {
			return err
		}
		select {
		case free <- bt.b:
		default:
		}
	}
	return nil
}

// encodeItems appends the lines of items to b.
func encodeItems(b []byte, items []sortItem) ([]byte, error) {
	for _, it := range items {
		if err := CheckEntry(it.addr, it.e); err != nil {
			return b, fmt.Errorf("writing state: %w", err)
		}
		b = it.e.AppendJSON(b)
		b = append(b, '\n')
	}
	return b, nil
}

// sortItem orders entries by address while reading little memory: the
// map key only, and for most comparisons not even that. Address order is
// the order of the "PROVIDER/" prefixes, then of the ids; the provider's
// rank and the id's first eight bytes sit in the item itself.
type sortItem struct {
	prefix uint64 // the id's first 8 bytes, big-endian, zero-padded
	rank   int    // the provider's rank in address order
	addr   string // the map key
	e      *engine.Entry
}

// providerRanks ranks the known services (or, with none, the services of
// s's addresses) in address order.
func providerRanks(known []string, s *engine.State) map[string]int {
	names := slices.Clone(known)
	if len(names) == 0 {
		seen := map[string]bool{}
		for addr := range s.Resources {
			if p, _, ok := engine.SplitAddress(addr); ok && !seen[p] && validProvider(p) {
				seen[p] = true
				names = append(names, p)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	rank := make(map[string]int, len(names))
	for i, n := range names {
		rank[n] = i
	}
	return rank
}

// newSortItem makes the item of the entry at addr. It does not read e, so
// as not to wait for it in memory; encodeItems checks it, in parallel.
func newSortItem(addr string, e *engine.Entry, rank map[string]int) (sortItem, error) {
	provider, id, ok := engine.SplitAddress(addr)
	if !ok {
		return sortItem{}, fmt.Errorf("%q is not an address", addr)
	}
	r, ok := rank[provider]
	if !ok {
		return sortItem{}, fmt.Errorf("%s: unknown provider %q", addr, provider)
	}
	if e == nil {
		return sortItem{}, fmt.Errorf("%s: no entry", addr)
	}
	var p [8]byte
	copy(p[:], id)
	return sortItem{prefix: binary.BigEndian.Uint64(p[:]), rank: r, addr: addr, e: e}, nil
}

func compareItems(a, b sortItem) int {
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
		return c
	}
	return strings.Compare(a.addr, b.addr)
}

// sortItems sorts items by address.
func sortItems(items []sortItem) {
	if len(items) < 1<<15 {
		slices.SortFunc(items, compareItems)
		return
	}
	sortParts(items, runtime.GOMAXPROCS(0))
}

// sortParts sorts items in parts, in parallel, then merges the parts
// pairwise.
func sortParts(items []sortItem, parts int) {
	if parts <= 1 || len(items) < parts {
		slices.SortFunc(items, compareItems)
		return
	}
	bounds := make([]int, parts+1)
	for i := range bounds {
		bounds[i] = len(items) * i / parts
	}
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { slices.SortFunc(items[bounds[i]:bounds[i+1]], compareItems) })
	}
	wg.Wait()
	src, dst := items, make([]sortItem, len(items))
	for len(bounds) > 2 { // merge neighbouring runs pairwise
		var next []int
		for i := 0; i+1 < len(bounds); i += 2 {
			lo, hi := bounds[i], bounds[min(i+2, len(bounds)-1)]
			next = append(next, lo)
			if i+2 >= len(bounds) { // an odd run out: copy it over
				copy(dst[lo:hi], src[lo:hi])
				continue
			}
			mid := bounds[i+1]
			wg.Go(func() { merge(dst[lo:hi], src[lo:mid], src[mid:hi]) })
		}
		next = append(next, len(items))
		wg.Wait()
		src, dst, bounds = dst, src, next
	}
	if &src[0] != &items[0] {
		copy(items, src)
	}
}

// merge merges the sorted a and b into dst.
func merge(dst, a, b []sortItem) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if compareItems(b[j], a[i]) < 0 {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
}

// CheckEntry reports what would keep e from being read back under addr: the
// checks Write makes before writing anything. Other backends use it too.
func CheckEntry(addr string, e *engine.Entry) error {
	if e == nil {
		return fmt.Errorf("%s: no entry", addr)
	}
	if e.ID == "" {
		return fmt.Errorf("%s: empty id", addr)
	}
	if len(addr) != len(e.Provider)+1+len(e.ID) || addr[:len(e.Provider)] != e.Provider || addr[len(e.Provider)] != '/' || addr[len(e.Provider)+1:] != e.ID {
		return fmt.Errorf("%s: the entry's address is %s", addr, e.Address())
	}
	if err := checkFields(e.Fields); err != nil {
		return fmt.Errorf("%s: fields: %w", addr, err)
	}
	if err := checkFields(e.IDs); err != nil {
		return fmt.Errorf("%s: ids: %w", addr, err)
	}
	return nil
}

func checkFields(fs engine.Fields) error {
	for i, f := range fs {
		if i > 0 && fs[i-1].Name >= f.Name {
			return fmt.Errorf("%q and %q are not sorted and unique", fs[i-1].Name, f.Name)
		}
		ok := true
		switch f.Value.K {
		case engine.KindNull, engine.KindString:
		case engine.KindBool:
			ok = f.Value.S == "true" || f.Value.S == "false"
		case engine.KindInt:
			i, err := strconv.ParseInt(f.Value.S, 10, 64)
			ok = err == nil && strconv.FormatInt(i, 10) == f.Value.S
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf("%q: invalid value %#v (kind %d)", f.Name, f.Value.S, f.Value.K)
		}
	}
	return nil
}

// validProvider reports whether name is a well-formed service name: lower
// case letters and digits, starting with a letter.
func validProvider(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
