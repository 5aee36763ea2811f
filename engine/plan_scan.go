package engine

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/reconcile-dev/reconcile/engine/internal/prefault"
)

// MakePlanScan is MakePlan against a state that scan streams in address
// order: a merge of the state's entries with the desired customers sorted
// by id. It builds an Entry only for an address whose fields differ from
// the manifests or that the manifests no longer manage, so an unchanged
// customer costs nothing once its line is compared, and the plan holds
// memory for the changes it finds, not for the state.
//
// opts.Refresh must be nil (a refresh reads what the state holds, and
// loads it). A state the scanner cannot stream gives ErrScanUnavailable:
// load it and call MakePlan.
func MakePlanScan(ctx context.Context, d *Desired, scan StateScanner, opts PlanOptions) (*Plan, Diagnostics, ScanInfo, error) {
	if opts.Refresh != nil {
		return nil, nil, ScanInfo{}, errors.New("MakePlanScan: a refreshed plan loads the state")
	}
	opts.onMissing = map[string]OnMissing{}
	for name, c := range d.Providers {
		opts.onMissing[name] = c.OnMissing
	}
	m := newMerge(d, opts)
	var info ScanInfo
	var err error
	if lz, ok := scan.(LazyScanner); ok {
		info, err = lz.ScanLazy(ctx, m.visit)
	} else {
		info, err = scan.Scan(ctx, m.visit)
	}
	if err != nil {
		return nil, nil, info, err
	}
	// The customers no state entry matched are creates, found in address
	// order: service by service, in id order, in segments on every core.
	var jobs []createJob
	for pi, order := range m.sorted {
		for lo := 0; lo < len(order); lo += segmentSize {
			jobs = append(jobs, createJob{pi, lo, min(lo+segmentSize, len(order))})
		}
	}
	creates := make([]planPart, len(jobs))
	count := make([]int, len(jobs))
	parallelFor(len(jobs), func(i int) {
		j := jobs[i]
		if opts.Lazy {
			count[i] = m.countCreates(&creates[i], j.pi, j.lo, j.hi)
		} else {
			m.creates(&creates[i], j.pi, j.lo, j.hi)
		}
	})
	p := &Plan{
		Registry:     d.Registry,
		StateLineage: info.Lineage,
		StateSerial:  info.Serial,
		Providers:    d.Providers,
		Targets:      opts.Targets,
	}
	// Two runs, each in address order: what the state's entries gave,
	// batch by batch, and the creates.
	slices.SortFunc(m.parts, func(a, b *scanPart) int { return a.seq - b.seq })
	scanned := make([]*planPart, len(m.parts))
	for i, sp := range m.parts {
		scanned[i] = &sp.planPart
	}
	created := make([]*planPart, len(creates))
	for i := range creates {
		created[i] = &creates[i]
	}
	diags := p.gather(scanned, created)
	if opts.Lazy {
		p.lazy = newLazy(m, jobs, count, p.Changes)
		p.Changes = nil
	}
	// In the order of the manifests, as MakePlan gives them: by position,
	// and a customer's in address order (each begins with the address).
	slices.SortFunc(diags, func(a, b Diagnostic) int { return strings.Compare(a.Summary, b.Summary) })
	diags.Sort(d.Files)
	return p, diags.with(p.unusedTargets(scanned, created)), info, nil
}

// gather puts the changes of runs of parts into p, sorted by address, and
// sums them. The changes of each run, its parts taken in order, are in
// address order already, and are merged; a single run is sorted.
func (p *Plan) gather(runs ...[]*planPart) Diagnostics {
	var diags Diagnostics
	sorted := make([][]*Change, len(runs))
	for r, parts := range runs {
		n := 0
		for _, pt := range parts {
			n += len(pt.changes)
		}
		sorted[r] = make([]*Change, 0, n)
		for _, pt := range parts {
			sorted[r] = append(sorted[r], pt.changes...)
			diags = append(diags, pt.diags...)
			p.Summary.add(pt.sum)
		}
	}
	switch len(sorted) {
	case 1:
		p.Changes = sorted[0]
		SortChanges(p.Changes)
	default:
		p.Changes = sorted[0]
		for _, run := range sorted[1:] {
			out := make([]*Change, len(p.Changes)+len(run))
			mergeRuns(out, p.Changes, run, byAddress)
			p.Changes = out
		}
	}
	return diags
}

// unusedTargets warns of the targets that no part matched.
func (p *Plan) unusedTargets(runs ...[]*planPart) Diagnostics {
	targets := newMatcher(p.Targets)
	for _, parts := range runs {
		for _, pt := range parts {
			for j, u := range pt.targets.used {
				targets.used[j] = targets.used[j] || u
			}
		}
	}
	var diags Diagnostics
	for _, t := range targets.unused() {
		diags = append(diags, Diagnostic{Severity: Warning, Summary: fmt.Sprintf("-target %q matches no address", t)})
	}
	return diags
}

// merge is one MakePlanScan: the desired customers of each service sorted
// by id, and which of them a state entry matched.
type merge struct {
	d    *Desired
	opts PlanOptions
	// sorted holds, for each service (by registry index), the indexes in
	// d.Customers of the customers managed there, sorted by id.
	sorted [][]int32
	// matched has bit i set for a customer a state entry of service i
	// matched.
	matched []atomic.Uint64

	mu    sync.Mutex
	parts []*scanPart
}

// scanPart is what one batch of state entries contributes.
type scanPart struct {
	planPart
	seq int
}

func newMerge(d *Desired, opts PlanOptions) *merge {
	m := &merge{d: d, opts: opts, matched: make([]atomic.Uint64, len(d.Customers))}
	prefault.Slice(m.matched)
	byID, all, some := sortByID(d.Customers)
	names := d.Registry.Names()
	m.sorted = make([][]int32, len(names))
	var managed []uint64
	for i := range names {
		switch bit := uint64(1) << i; {
		case all&bit != 0:
			m.sorted[i] = byID // managed everywhere: share one order
		case some&bit == 0: // managed nowhere
		default:
			if managed == nil {
				// Which services manage each customer, read in the
				// customers' order (the order of their memory) rather than
				// by id.
				managed = make([]uint64, len(d.Customers))
				for ci, c := range d.Customers {
					managed[ci] = c.Managed
				}
			}
			var s []int32
			for _, ci := range byID {
				if managed[ci]&bit != 0 {
					s = append(s, ci)
				}
			}
			m.sorted[i] = s
		}
	}
	return m
}

// idKey is a customer to sort by id: the first eight bytes of its id, as
// a number that orders as they do, and its index.
type idKey struct {
	pre uint64
	i   int32
}

// sortByID returns the indexes of cs in the order of their ids, and the
// services that manage all of them and some of them (Customer.Managed
// bits). Most ids differ in their first eight bytes: the sort compares
// those, in keys side by side in memory, and reads the ids themselves only
// on a tie.
func sortByID(cs []*Customer) (byID []int32, all, some uint64) {
	keys := make([]idKey, len(cs))
	prefault.Slice(keys)
	segs := (len(cs) + segmentSize - 1) / segmentSize
	alls, somes := make([]uint64, segs), make([]uint64, segs)
	parallelFor(segs, func(k int) {
		a, s := ^uint64(0), uint64(0)
		for i := k * segmentSize; i < min(len(cs), (k+1)*segmentSize); i++ {
			c := cs[i]
			keys[i] = idKey{idPrefix(c.ID), int32(i)}
			a &= c.Managed
			s |= c.Managed
		}
		alls[k], somes[k] = a, s
	})
	all = ^uint64(0)
	for k := range segs {
		all &= alls[k]
		some |= somes[k]
	}
	ParallelSort(keys, func(a, b idKey) int {
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		return strings.Compare(cs[a.i].ID, cs[b.i].ID)
	})
	byID = make([]int32, len(cs))
	prefault.Slice(byID)
	parallelFor(segs, func(k int) {
		for i := k * segmentSize; i < min(len(cs), (k+1)*segmentSize); i++ {
			byID[i] = keys[i].i
		}
	})
	return byID, all, some
}

// idPrefix returns the first eight bytes of id, big-endian, padded with
// zeros: a < b when idPrefix(a) < idPrefix(b), and a tie says nothing.
func idPrefix(id string) uint64 {
	var b [8]byte
	copy(b[:], id)
	return binary.BigEndian.Uint64(b[:])
}

// visit merges one batch of state entries with the desired customers.
func (m *merge) visit(b *EntryBatch) error {
	reg := m.d.Registry
	sp := &scanPart{seq: b.Seq}
	pt := &sp.planPart
	pt.targets = newMatcher(m.opts.Targets)
	pt.proj.reg = reg
	cursor := make([]int, len(m.sorted)) // where the last entry of each service was found
	lastProv, pi := "", -1
	for r := range b.Recs {
		rec := &b.Recs[r]
		if rec.Provider != lastProv {
			lastProv, pi = rec.Provider, reg.Index(rec.Provider)
		}
		addr := b.address(rec)
		// id is a view of the arena, compared and never kept.
		id := unsafe.String(unsafe.SliceData(addr[len(rec.Provider)+1:]), len(addr)-len(rec.Provider)-1)
		var c *Customer
		if pi >= 0 {
			order := m.sorted[pi]
			k := seek(m.d.Customers, order, cursor[pi], id)
			cursor[pi] = k
			if k < len(order) && m.d.Customers[order[k]].ID == id {
				c = m.d.Customers[order[k]]
				m.matched[order[k]].Or(1 << pi)
			}
		}
		match := pt.targets.match(addr)
		if rec.Lazy() {
			// The usual entry: unchanged, told from its line.
			if c != nil && match && b.Lines.Same(b, r, pt.wanted(c, pi, rec.Provider)) {
				pt.sum.NoOp++
				continue
			}
			if err := b.Lines.Decode(b, r); err != nil {
				return err
			}
		}
		if !match {
			continue
		}
		if c == nil {
			e := b.Entry(rec)
			ch := forget(m.d, e.Address(), e, &pt.sum)
			ch.Calls = callsOf(m.opts.Providers, ch, &pt.slabs.calls)
			pt.changes = append(pt.changes, ch)
			continue
		}
		var ch *Change
		switch {
		case b.absent(rec):
			// Import found the service without it: a create, tried as one
			// first.
			ch = diffCustomer(&pt.proj, &pt.slabs, c, rec.Provider, nil)
			ch.Prior, ch.Missing = b.Entry(rec).Digest(), true
		case !m.differs(pt, c, pi, b, rec):
			pt.sum.NoOp++
			continue
		default:
			ch = diffCustomer(&pt.proj, &pt.slabs, c, rec.Provider, b.Entry(rec))
		}
		if ch == nil { // the fields the manifests leave out differ only
			pt.sum.NoOp++
			continue
		}
		source := ""
		pt.add(reg, c, ch, &m.opts, &source)
	}
	m.mu.Lock()
	m.parts = append(m.parts, sp)
	m.mu.Unlock()
	return nil
}

// wanted returns the fields c manages in service pi (p), under their names
// in the service, sorted: what its unchanged entry holds. It is pt's,
// valid until the next call.
func (pt *planPart) wanted(c *Customer, pi int, p string) *Wanted {
	l := pt.proj.layout(c, pi, p)
	pt.want = Wanted{Names: l.wantNames, Src: l.wantSrc, Of: c.Fields}
	return &pt.want
}

// differs reports whether any field c manages in service pi differs from
// rec's, as differs does for an Entry.
func (m *merge) differs(pt *planPart, c *Customer, pi int, b *EntryBatch, rec *RawEntry) bool {
	l := pt.proj.layout(c, pi, rec.Provider)
	// Both lists are sorted by the field's name in the service.
	j := rec.Fields.Off
	for _, st := range l.fields {
		// The state's fields up to st's: the same name is the usual case,
		// told by one equality test.
		for {
			if j == rec.Fields.End {
				return true
			}
			name := b.Fields[j].Name
			if name == st.name {
				break
			}
			if name > st.name {
				return true
			}
			j++
		}
		if !b.equal(&b.Fields[j], c.Fields[st.src].Value) {
			return true
		}
	}
	return false
}

// creates plans a create of each customer m.sorted[pi][lo:hi] that no
// state entry of service pi matched.
func (m *merge) creates(pt *planPart, pi, lo, hi int) {
	reg := m.d.Registry
	prov := reg.Names()[pi]
	m.eachCreate(pt, pi, lo, hi, func(c *Customer, _ []byte) {
		source := ""
		pt.add(reg, c, diffCustomer(&pt.proj, &pt.slabs, c, prov, nil), &m.opts, &source)
	})
}

// countCreates counts, without building them, the creates creates would
// plan, and makes their diagnostics.
func (m *merge) countCreates(pt *planPart, pi, lo, hi int) int {
	reg := m.d.Registry
	prov := reg.Names()[pi]
	svc := reg.Service(prov)
	n := 0
	m.eachCreate(pt, pi, lo, hi, func(c *Customer, addr []byte) {
		n++
		pt.sum.Create++
		if svc == nil {
			return
		}
		l := pt.proj.layout(c, pi, prov)
		var missing []string
		for _, name := range svc.CreateNeeds {
			k := slices.IndexFunc(l.fields, func(st projStep) bool { return st.name == name })
			if k < 0 || c.Fields[l.fields[k].src].Value.IsNull() {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			pt.diags = append(pt.diags, createDiag(c, string(addr), missing))
		}
	})
	return n
}

// eachCreate calls fn with each customer m.sorted[pi][lo:hi] that no state
// entry of service pi matched and the targets match, and its address
// (valid during the call).
func (m *merge) eachCreate(pt *planPart, pi, lo, hi int, fn func(c *Customer, addr []byte)) {
	reg := m.d.Registry
	prov := reg.Names()[pi]
	pt.targets = newMatcher(m.opts.Targets)
	pt.proj.reg = reg
	buf := make([]byte, 0, 64)
	for _, ci := range m.sorted[pi][lo:hi] {
		if m.matched[ci].Load()&(1<<pi) != 0 {
			continue
		}
		c := m.d.Customers[ci]
		buf = append(append(append(buf[:0], prov...), '/'), c.ID...)
		if pt.targets.match(buf) {
			fn(c, buf)
		}
	}
}

// seek returns the first position at or after from in order (indexes of
// customers sorted by id) whose id is not below id: galloping, since the
// next entry's customer is usually the next one. Every customer before from
// has a smaller id.
func seek(cs []*Customer, order []int32, from int, id string) int {
	n := len(order)
	if from < n && cs[order[from]].ID == id {
		return from // the usual case: the next customer (ids are unique)
	}
	if from > 0 && cs[order[from-1]].ID >= id {
		from = 0 // not in address order: search from the start
	}
	lo, hi, step := from, from, 1
	for hi < n && cs[order[hi]].ID < id {
		lo = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, n)
	// Every id before lo is smaller; the one at hi, if any, is not.
	return lo + sortSearch(hi-lo, func(k int) bool { return cs[order[lo+k]].ID >= id })
}

// sortSearch is sort.Search: the smallest k in [0, n] with f(k) true.
func sortSearch(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if !f(h) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}
