package engine

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// PlanOptions shapes a plan.
type PlanOptions struct {
	// Targets limits the plan to matching addresses; `*` matches any run of
	// characters. Empty means every address.
	Targets []string
	// Providers plans each change's calls. A provider missing here plans no
	// calls (tests that only care about the diff).
	Providers map[string]Provider
	// Refresh holds, by address, what the services hold (plan -refresh).
	// The plan diffs the manifests against it for the fields the service
	// reads back, and against the state for the rest.
	Refresh map[string]ReadResult
	// Lazy lets MakePlanScan leave the creates of customers the state does
	// not hold to be built on demand (Plan.Segment): for plans that are
	// shown, not applied.
	Lazy bool

	onMissing map[string]OnMissing
}

// MakePlan diffs the desired customers against the state. Diagnostics
// report creates that lack what the service needs, and targets that match
// nothing; the plan is complete even then, for display. The diff runs on
// every core: plans of a million customers are routine.
func MakePlan(d *Desired, s *State, opts PlanOptions) (*Plan, Diagnostics) {
	p := &Plan{
		Registry:     d.Registry,
		StateLineage: s.Lineage,
		StateSerial:  s.Serial,
		Providers:    d.Providers,
		Targets:      opts.Targets,
		Refreshed:    opts.Refresh != nil,
	}
	opts.onMissing = map[string]OnMissing{}
	for name, c := range d.Providers {
		opts.onMissing[name] = c.OnMissing
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(d.Customers)/10000))
	parts := make([]planPart, workers)
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := len(d.Customers)*w/workers, len(d.Customers)*(w+1)/workers
		wg.Go(func() { parts[w].diff(d.Registry, d.Customers[lo:hi], s, opts) })
	}
	wg.Wait()
	all := make([]*planPart, 0, len(parts)+1)
	found := 0
	for i := range parts {
		all = append(all, &parts[i])
		found += parts[i].found
	}
	if found < len(s.Resources) {
		gone := &planPart{targets: newMatcher(opts.Targets)}
		gone.changes = removed(d, s, gone.targets, &gone.sum)
		for _, ch := range gone.changes {
			ch.Calls = callsOf(opts.Providers, ch, &gone.slabs.calls)
		}
		all = append(all, gone)
	}
	return p, p.gather(all).with(p.unusedTargets(all))
}

// planPart is one worker's share of a plan.
type planPart struct {
	changes []*Change
	diags   Diagnostics
	sum     Summary
	found   int // state entries matched by these customers
	targets *matcher
	proj    projector
	slabs   slabs
	merged  []*Change // segmentScratch's
	want    Wanted    // wanted's
}

// slabs hand out a create's change, desired resource, fields and source
// from blocks: plans build millions of creates. A lazy plan's segments,
// written and dropped one after the other, hand the same blocks out again
// (reuse).
type slabs struct {
	creates block[changeResource]
	fields  block[Field]
	text    block[byte]
	calls   CallSlab
}

// changeResource is a change and its desired resource, allocated together.
type changeResource struct {
	ch Change
	r  Resource
}

const slabCreates = 512

// slabTextSize is the largest block of a part's addresses and sources.
const slabTextSize = 32 << 10

// block hands out runs of Ts from blocks that double from 16 Ts up to
// size (a part with a few changes takes a little memory, one with
// thousands few blocks), keeping the blocks for reuse when keep is set.
type block[T any] struct {
	cur    []T
	last   int // the size of the last block made
	keep   bool
	blocks [][]T // kept, in the order made
	next   int   // the kept block to hand out after cur
}

// take returns n Ts, capacity clipped so that appending reallocates rather
// than overwrite the next run.
func (b *block[T]) take(n, size int) []T {
	if n > len(b.cur) {
		if b.next < len(b.blocks) && n <= len(b.blocks[b.next]) {
			b.cur = b.blocks[b.next]
			b.next++
		} else {
			b.last = min(size, max(16, 2*b.last))
			b.cur = make([]T, max(n, b.last))
			if b.keep {
				b.blocks = append(b.blocks, b.cur)
				b.next = len(b.blocks)
			}
		}
	}
	run := b.cur[:n:n]
	b.cur = b.cur[n:]
	return run
}

// reuse hands out the kept blocks again, keeping from now on the blocks it
// makes: every run taken before is dead.
func (b *block[T]) reuse() {
	b.cur, b.next, b.keep = nil, 0, true
}

// reuse makes sl hand out its blocks again, keeping from now on the
// blocks it makes: whatever sl handed out before must be dead.
func (sl *slabs) reuse() {
	sl.creates.reuse()
	sl.fields.reuse()
	sl.text.reuse()
	sl.calls.reuse()
}

func (sl *slabs) create() *changeResource {
	cr := &sl.creates.take(1, slabCreates)[0]
	*cr = changeResource{}
	return cr
}

// fieldsOf returns room for n fields.
func (sl *slabs) fieldsOf(n int) Fields { return sl.fields.take(n, 8*slabCreates) }

// address returns PROVIDER/ID, its text kept in a block.
func (sl *slabs) address(prov, id string) string {
	return join(&sl.text, slabTextSize, prov, "/", id)
}

// fileLine returns p.FileLine(), its text kept in a block.
func (sl *slabs) fileLine(p Pos) string {
	if p.File == "" || p.Sheet != "" || p.Line == 0 {
		return p.FileLine()
	}
	var num [12]byte
	digits := strconv.AppendInt(num[:0], int64(p.Line), 10)
	return join(&sl.text, slabTextSize, p.File, ":", unsafe.String(&digits[0], len(digits)))
}

func (pt *planPart) diff(reg *Registry, customers []*Customer, s *State, opts PlanOptions) {
	pt.targets = newMatcher(opts.Targets)
	pt.proj.reg = reg
	buf := make([]byte, 0, 64)
	for _, c := range customers {
		source := "" // FILE:LINE, made once for all of c's changes
		for i, prov := range reg.Names() {
			if c.Managed&(1<<i) == 0 {
				continue
			}
			buf = append(append(append(buf[:0], prov...), '/'), c.ID...)
			entry := s.Resources[string(buf)] // no allocation: the compiler sees the lookup
			if entry != nil {
				pt.found++
			}
			if !pt.targets.match(buf) {
				continue
			}
			var ch *Change
			switch obs, ok := opts.Refresh[string(buf)]; {
			case entry.Absent():
				// Import found the service without it: a create, tried as
				// one first.
				ch = diffCustomer(&pt.proj, &pt.slabs, c, prov, nil)
				ch.Prior, ch.Missing = entry.Digest(), true
			case ok && entry != nil:
				ch = diffRefreshed(reg, c, prov, entry, obs)
			default:
				ch = diffCustomer(&pt.proj, &pt.slabs, c, prov, entry)
			}
			if ch == nil {
				pt.sum.NoOp++
				continue
			}
			pt.add(reg, c, ch, &opts, &source)
		}
	}
}

// add counts ch, a change of customer c, and completes it: its source, its
// calls, and the diagnostic of a create that lacks what the service needs.
// source is c's FILE:LINE, made on first use for all of c's changes.
func (pt *planPart) add(reg *Registry, c *Customer, ch *Change, opts *PlanOptions, source *string) {
	if ch.Action == ActionCreate {
		pt.sum.Create++
		if ch.Missing && opts.onMissing[ch.Provider] == OnMissingSkip {
			// The service lacks it and must not get it: apply skips it.
			ch.Skip = true
			pt.sum.Skip++
		}
		if missing := missingForCreate(reg.Service(ch.Provider), ch.Desired); len(missing) > 0 {
			pt.diags = append(pt.diags, createDiag(c, ch.Address, missing))
		}
	} else {
		pt.sum.Update++
	}
	if *source == "" {
		*source = pt.slabs.fileLine(c.Pos)
	}
	ch.Source = *source
	ch.Calls = callsOf(opts.Providers, ch, &pt.slabs.calls)
	pt.changes = append(pt.changes, ch)
}

// callsOf plans ch's calls with its provider, in s if it can (nil: on the
// heap); none without one.
func callsOf(provs map[string]Provider, ch *Change, s *CallSlab) []Call {
	pr := provs[ch.Provider]
	if pr == nil {
		return []Call{}
	}
	var calls []Call
	if cb, ok := pr.(CallBuilder); ok {
		calls = cb.CallsIn(s, ch)
	} else {
		calls = pr.Calls(ch)
	}
	if calls == nil {
		return []Call{}
	}
	return calls
}

// diffCustomer compares c's fields in prov with the state entry, and returns
// nil when nothing differs. It allocates nothing for an unchanged customer.
func diffCustomer(pj *projector, sl *slabs, c *Customer, prov string, entry *Entry) *Change {
	if entry != nil && !differs(pj.reg, c, prov, entry) {
		return nil
	}
	// The change and its desired resource in one allocation, or from
	// sl's blocks: plans hold hundreds of thousands of them.
	var both *changeResource
	if sl != nil {
		both = sl.create()
	} else {
		both = &changeResource{}
	}
	r := &both.r
	pj.project(c, prov, r, sl)
	ch := &both.ch
	addr := ""
	if sl != nil {
		addr = sl.address(prov, c.ID)
	} else {
		addr = r.Address()
	}
	*ch = Change{
		Address:  addr,
		Provider: prov,
		ID:       c.ID,
		Action:   ActionUpdate,
		Desired:  r,
		Prior:    entry.Digest(),
	}
	if entry == nil {
		ch.Action = ActionCreate // Fields stay nil: see Change.FieldChanges
		return ch
	}
	ch.IDs = entry.IDs
	for _, f := range r.Fields {
		old, ok := entry.Fields.Get(f.Name)
		switch {
		case !ok:
			ch.Fields = append(ch.Fields, FieldChange{Name: f.Name, After: f.Value})
		case old != f.Value:
			before := old
			ch.Fields = append(ch.Fields, FieldChange{Name: f.Name, Before: &before, After: f.Value})
		}
	}
	return ch
}

// diffRefreshed diffs c against what the service holds (obs) for the
// fields it reads back, and against the state entry for the others. A value
// the service holds that differs from the last applied one is drift. A
// customer the service no longer has is planned as a create.
func diffRefreshed(reg *Registry, c *Customer, prov string, entry *Entry, obs ReadResult) *Change {
	if obs.NotFound {
		ch := diffCustomer(&projector{reg: reg}, nil, c, prov, nil)
		ch.Prior = entry.Digest() // the staleness check compares with the state
		ch.IDs = entry.IDs
		ch.Missing = true
		return ch
	}
	r := reg.Resource(c, prov)
	var fields []FieldChange
	for _, f := range r.Fields {
		stateV, inState := entry.Fields.Get(f.Name)
		var before *Value
		fc := FieldChange{Name: f.Name, After: f.Value}
		if obsV, readable := obs.Observed.Fields.Get(f.Name); readable {
			before = &obsV
			fc.Drift = inState && obsV != stateV
		} else {
			fc.Unreadable = true
			if inState {
				before = &stateV
			}
		}
		if before != nil && *before == f.Value {
			continue
		}
		fc.Before = before
		fields = append(fields, fc)
	}
	if len(fields) == 0 {
		return nil
	}
	ids := entry.IDs
	if len(obs.Observed.IDs) > 0 {
		ids = ids.Clone()
		for _, id := range obs.Observed.IDs {
			ids = ids.Set(id.Name, id.Value)
		}
	}
	return &Change{
		Address: r.Address(), Provider: prov, ID: c.ID, Action: ActionUpdate,
		Desired: r, Prior: entry.Digest(), IDs: ids, Fields: fields,
	}
}

// differs reports whether any field c manages in prov differs from entry.
func differs(reg *Registry, c *Customer, prov string, entry *Entry) bool {
	for _, f := range c.Fields {
		info := reg.projection(f.Name, prov)
		if info.name == "" || info.param {
			continue
		}
		if old, ok := entry.Fields.Get(info.name); !ok || old != f.Value {
			return true
		}
	}
	return false
}

// createDiag is the error of a create of c, at addr, that lacks what the
// service needs.
func createDiag(c *Customer, addr string, missing []string) Diagnostic {
	return Diagnostic{
		Severity: Error, Pos: c.Pos,
		Summary: fmt.Sprintf("%s: creating this customer needs %s", addr, strings.Join(missing, ", ")),
		Detail:  "the service requires them to create a customer; add them to the manifest",
	}
}

// missingForCreate lists what the service needs to create a customer
// (Service.CreateNeeds) that r does not carry.
func missingForCreate(svc *Service, r *Resource) []string {
	if svc == nil {
		return nil
	}
	var missing []string
	for _, name := range svc.CreateNeeds {
		if v, ok := r.Fields.Get(name); !ok || v.IsNull() {
			missing = append(missing, name)
		}
	}
	return missing
}

// removed plans the state entries that the manifests no longer manage.
func removed(d *Desired, s *State, targets *matcher, sum *Summary) []*Change {
	byID := make(map[string]*Customer, len(d.Customers))
	for _, c := range d.Customers {
		byID[c.ID] = c
	}
	var out []*Change
	for addr, e := range s.Resources {
		if c := byID[e.ID]; c != nil && d.Registry.ManagedIn(c, e.Provider) {
			continue
		}
		if !targets.match([]byte(addr)) {
			continue
		}
		out = append(out, forget(d, addr, e, sum))
	}
	return out
}

// forget plans e, at addr, which the manifests no longer manage: forgotten,
// or disabled where the service's on_remove says so.
func forget(d *Desired, addr string, e *Entry, sum *Summary) *Change {
	ch := &Change{Address: addr, Provider: e.Provider, ID: e.ID, Action: ActionForget, IDs: e.IDs, Prior: e.Digest()}
	svc := d.Registry.Service(e.Provider)
	if cfg, ok := d.Providers[e.Provider]; ok && cfg.OnRemove == OnRemoveDisable && svc != nil && svc.Disable != nil {
		ch.Action = ActionDisable
		off := *svc.Disable
		fc := FieldChange{Name: off.Name, After: off.Value}
		if v, ok := e.Fields.Get(off.Name); ok {
			fc.Before = &v
		}
		ch.Fields = []FieldChange{fc}
		ch.Desired = &Resource{Provider: e.Provider, ID: e.ID, Fields: Fields{off}}
		sum.Disable++
	} else {
		sum.Forget++
	}
	return ch
}

// matcher matches addresses against -target patterns.
type matcher struct {
	patterns []string
	used     []bool
}

func newMatcher(patterns []string) *matcher {
	return &matcher{patterns: patterns, used: make([]bool, len(patterns))}
}

// MatchesAny reports whether addr matches one of patterns (Glob); no
// patterns match everything.
func MatchesAny(patterns []string, addr string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if Glob(p, addr) {
			return true
		}
	}
	return false
}

func (m *matcher) match(addr []byte) bool {
	if len(m.patterns) == 0 {
		return true
	}
	hit := false
	for i, p := range m.patterns {
		if Glob(p, string(addr)) {
			m.used[i] = true
			hit = true
		}
	}
	return hit
}

func (m *matcher) unused() []string {
	var out []string
	for i, u := range m.used {
		if !u {
			out = append(out, m.patterns[i])
		}
	}
	return out
}

// Glob reports whether s matches pattern, where `*` matches any run of
// characters (slashes included) and everything else matches itself.
func Glob(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s = s[star:]
	rest := pattern[star+1:]
	for {
		if Glob(rest, s) {
			return true
		}
		if s == "" {
			return false
		}
		s = s[1:]
	}
}

// ProviderCalls is how many calls apply will make to one provider, how many
// requests they take (a call marked MayTakeTwo may take a second: the
// range), and how long they take at its rate limit.
type ProviderCalls struct {
	Provider string
	Calls    int
	// MinRequests and MaxRequests bound the requests: one per call, a
	// second for each call that may take two, and the reads that verify
	// writes (VerifyReads) where the write's answer does not show them.
	MinRequests, MaxRequests int
	VerifyReads              int
	Rate                     float64
	// Duration and MaxDuration are the requests' time at the rate.
	Duration, MaxDuration time.Duration
}

// CallStats counts the planned calls per provider, in provider order.
func (p *Plan) CallStats() []ProviderCalls {
	tallies := p.tallies()
	v := Verification{Canary: DefaultCanary}
	if p.Verify != nil {
		v = *p.Verify
	}
	var out []ProviderCalls
	for i, name := range p.Registry.Names() {
		n := tallies[i].calls
		if n == 0 {
			continue
		}
		cfg := p.Registry.Config(p.Providers, name)
		pc := ProviderCalls{Provider: name, Calls: n, MinRequests: n, MaxRequests: n + tallies[i].twos, Rate: cfg.RateLimit}
		if svc := p.Registry.Service(name); svc != nil && !svc.AnswersCarryRecord {
			// Verifying a write costs a read where the answer does not
			// show what the service holds.
			reads := min(tallies[i].writes, v.Canary)
			if v.All {
				reads = tallies[i].writes
			}
			pc.VerifyReads = reads
			pc.MinRequests += reads
			pc.MaxRequests += reads
		}
		if cfg.RateLimit > 0 {
			pc.Duration = time.Duration(math.Ceil(float64(pc.MinRequests) / cfg.RateLimit * float64(time.Second)))
			pc.MaxDuration = time.Duration(math.Ceil(float64(pc.MaxRequests) / cfg.RateLimit * float64(time.Second)))
		}
		out = append(out, pc)
	}
	return out
}
