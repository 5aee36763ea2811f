package engine

import (
	"slices"
	"sort"
	"sync"
)

// A plan against an empty state of a million customers is two million
// creates; a create's change, desired resource and calls take about a
// kilobyte. The plan command only shows them, in address order, so a plan
// made with PlanOptions.Lazy builds its creates of customers the state does
// not hold on demand, segment by segment (Segments, Segment), as the views
// render them: it holds the customers and the other changes, and a few
// segments per core. Apply needs them all: Materialize builds them.

// segmentSize is how many creates one segment of a lazy plan builds, and
// how many changes one segment of a built plan holds.
const segmentSize = 2048

// lazyCreates are the creates of a lazy plan, not built yet.
type lazyCreates struct {
	m *merge
	// jobs are the segments' creates, in address order: the customers
	// m.sorted[pi][lo:hi] that no state entry matched.
	jobs []createJob
	// count is how many creates each job makes.
	count []int
	// scanned are the plan's other changes, in address order; segment i
	// holds scanned[cuts[i]:cuts[i+1]] merged with job i's creates, and the
	// last segment the scanned changes after every create.
	scanned []*Change
	cuts    []int
	// tallies holds each segment's call counts, once it was built.
	mu      sync.Mutex
	tallies [][]callTally
}

type createJob struct{ pi, lo, hi int }

// callTally counts what CallStats needs of one service's changes.
type callTally struct {
	calls, twos, writes int
}

// Len returns how many changes p holds, built or not.
func (p *Plan) Len() int {
	if p.lazy == nil {
		return len(p.Changes)
	}
	n := len(p.lazy.scanned)
	for _, c := range p.lazy.count {
		n += c
	}
	return n
}

// Lazy reports whether some of p's changes are built on demand: read them
// with Segment, or Materialize the plan; p.Changes is then nil.
func (p *Plan) Lazy() bool { return p.lazy != nil }

// Built returns the changes p holds built: all of them, or, for a lazy
// plan, all but the creates of customers the state does not hold (so every
// update, disable and forget).
func (p *Plan) Built() []*Change {
	if p.lazy != nil {
		return p.lazy.scanned
	}
	return p.Changes
}

// Segments returns how many segments p's changes come in.
func (p *Plan) Segments() int {
	if p.lazy == nil {
		return (len(p.Changes) + segmentSize - 1) / segmentSize
	}
	return len(p.lazy.jobs) + 1
}

// Segment returns segment i of p's changes: the segments, in order, hold
// every change in address order. A lazy plan builds the segment's creates
// at each call. It is safe for concurrent use.
func (p *Plan) Segment(i int) []*Change {
	if p.lazy == nil {
		lo := i * segmentSize
		return p.Changes[lo:min(lo+segmentSize, len(p.Changes))]
	}
	return p.lazy.segment(p.Registry, i)
}

// VisitSegments calls fn with p's segments in order, until fn returns
// false. A lazy plan builds each segment's creates in memory it reuses for
// the next: fn must not keep the changes.
func (p *Plan) VisitSegments(fn func(changes []*Change) bool) {
	for i := range p.Segments() {
		changes, done := p.segmentScratch(i)
		more := fn(changes)
		done()
		if !more {
			return
		}
	}
}

// EachSegment calls fn with every segment, on every core, and waits.
func (p *Plan) EachSegment(fn func(i int, changes []*Change)) {
	parallelFor(p.Segments(), func(i int) { fn(i, p.Segment(i)) })
}

// Materialize builds every change of a lazy plan into p.Changes.
func (p *Plan) Materialize() {
	if p.lazy == nil {
		return
	}
	segs := make([][]*Change, p.Segments())
	p.EachSegment(func(i int, changes []*Change) { segs[i] = changes })
	all := make([]*Change, 0, p.Len())
	for _, s := range segs {
		all = append(all, s...)
	}
	p.Changes, p.lazy = all, nil
}

func (lz *lazyCreates) segment(reg *Registry, i int) []*Change {
	out := lz.segmentChanges(i)
	lz.record(reg, i, out)
	return out
}

// tally counts the calls of changes per service, by registry index.
func tally(reg *Registry, changes []*Change) []callTally {
	t := make([]callTally, len(reg.Names()))
	for _, ch := range changes {
		i := reg.Index(ch.Provider)
		if i < 0 {
			continue
		}
		t[i].calls += len(ch.Calls)
		if len(ch.Calls) > 0 && ch.Desired != nil {
			t[i].writes++
		}
		for _, c := range ch.Calls {
			if c.MayTakeTwo {
				t[i].twos++
			}
		}
	}
	return t
}

// tallies counts the calls of p's changes per service, by registry index:
// for a lazy plan, from the segments already built, building the others.
func (p *Plan) tallies() []callTally {
	if p.lazy == nil {
		return tally(p.Registry, p.Changes)
	}
	lz := p.lazy
	lz.mu.Lock()
	var todo []int
	for i, t := range lz.tallies {
		if t == nil {
			todo = append(todo, i)
		}
	}
	lz.mu.Unlock()
	// Built in reused memory and dropped: a view that shows the calls
	// before the changes (-markdown) counts two million creates without
	// keeping them.
	parallelFor(len(todo), func(k int) {
		_, done := p.segmentScratch(todo[k])
		done()
	})
	sum := make([]callTally, len(p.Registry.Names()))
	for _, t := range lz.tallies {
		for k := range t {
			sum[k].calls += t[k].calls
			sum[k].twos += t[k].twos
			sum[k].writes += t[k].writes
		}
	}
	return sum
}

// scratchParts holds the planParts whose blocks WriteChanges hands out
// again for each lazy segment it writes and drops.
var scratchParts = sync.Pool{New: func() any { return new(planPart) }}

// segmentScratch is Segment(i) for a caller that drops the changes before
// it calls done: a lazy plan builds them in reused memory.
func (p *Plan) segmentScratch(i int) (changes []*Change, done func()) {
	lz := p.lazy
	if lz == nil || i == len(lz.jobs) {
		return p.Segment(i), func() {}
	}
	pt := scratchParts.Get().(*planPart)
	pt.slabs.reuse()
	pt.changes, pt.diags, pt.sum = pt.changes[:0], pt.diags[:0], Summary{}
	changes = lz.build(i, pt)
	lz.record(p.Registry, i, changes)
	return changes, func() {
		clear(pt.merged)
		scratchParts.Put(pt)
	}
}

// record keeps the tally of segment i, the first time it is built.
func (lz *lazyCreates) record(reg *Registry, i int, changes []*Change) {
	lz.mu.Lock()
	done := lz.tallies[i] != nil
	lz.mu.Unlock()
	if !done {
		t := tally(reg, changes)
		lz.mu.Lock()
		lz.tallies[i] = t
		lz.mu.Unlock()
	}
}

// segmentChanges builds segment i.
func (lz *lazyCreates) segmentChanges(i int) []*Change {
	if i == len(lz.jobs) {
		return lz.scanned[lz.cuts[i]:]
	}
	return lz.build(i, new(planPart))
}

// build makes the creates of job i in pt and returns them merged with the
// scanned changes of segment i, in pt.merged.
func (lz *lazyCreates) build(i int, pt *planPart) []*Change {
	j := lz.jobs[i]
	lz.m.creates(pt, j.pi, j.lo, j.hi)
	scanned := lz.scanned[lz.cuts[i]:lz.cuts[i+1]]
	if len(scanned) == 0 {
		return pt.changes
	}
	n := len(scanned) + len(pt.changes)
	pt.merged = slices.Grow(pt.merged[:0], n)[:n]
	mergeRuns(pt.merged, scanned, pt.changes, byAddress)
	return pt.merged
}

// newLazy makes the lazy creates of m's jobs, around the changes scanned
// (in address order), count giving each job's creates.
func newLazy(m *merge, jobs []createJob, count []int, scanned []*Change) *lazyCreates {
	lz := &lazyCreates{m: m, jobs: jobs, count: count, scanned: scanned,
		tallies: make([][]callTally, len(jobs)+1)}
	names := m.d.Registry.Names()
	lz.cuts = make([]int, len(jobs)+2)
	for j, job := range jobs {
		// The job's creates end at its last customer's address.
		bound := names[job.pi] + "/" + m.d.Customers[m.sorted[job.pi][job.hi-1]].ID
		from := lz.cuts[j]
		lz.cuts[j+1] = from + sort.Search(len(scanned)-from, func(k int) bool { return scanned[from+k].Address > bound })
	}
	lz.cuts[len(jobs)+1] = len(scanned)
	return lz
}

// PerProvider counts p's changes by service and action (NoOp and Skip
// aside), without building a lazy plan's creates.
func (p *Plan) PerProvider() map[string]*Summary {
	per := map[string]*Summary{}
	of := func(name string) *Summary {
		s := per[name]
		if s == nil {
			s = &Summary{}
			per[name] = s
		}
		return s
	}
	for _, ch := range p.Built() {
		s := of(ch.Provider)
		switch ch.Action {
		case ActionCreate:
			s.Create++
		case ActionUpdate:
			s.Update++
		case ActionDisable:
			s.Disable++
		case ActionForget:
			s.Forget++
		}
	}
	if p.lazy != nil {
		for j, job := range p.lazy.jobs {
			if n := p.lazy.count[j]; n > 0 {
				of(p.Registry.Names()[job.pi]).Create += n
			}
		}
	}
	return per
}
