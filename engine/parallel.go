package engine

import (
	"cmp"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/reconcile-dev/reconcile/engine/internal/prefault"
)

// parallelFor calls fn(i) for every i in [0, n), on every core, and
// waits.
func parallelFor(n int, fn func(i int)) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// SortChanges sorts changes by address, on every core.
func SortChanges(changes []*Change) { ParallelSort(changes, byAddress) }

// byAddress orders changes by address: a plan's order.
func byAddress(a, b *Change) int { return cmp.Compare(a.Address, b.Address) }

// minParallelSort is the length below which ParallelSort sorts in one
// goroutine: splitting costs more than it saves.
const minParallelSort = 1 << 14

// ParallelSort sorts s by cmp, which must be a strict order of its
// elements (no two equal), on every core: runs sorted at once, then
// merged pairwise.
func ParallelSort[T any](s []T, cmp func(a, b T) int) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(s) < minParallelSort {
		slices.SortFunc(s, cmp)
		return
	}
	runs := make([][]T, 0, workers)
	for w := range workers {
		runs = append(runs, s[len(s)*w/workers:len(s)*(w+1)/workers])
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { slices.SortFunc(r, cmp) })
	}
	wg.Wait()
	if slices.IsSortedFunc(s, cmp) {
		return
	}
	buf := make([]T, len(s))
	prefault.Slice(buf)
	src, dst := s, buf
	for len(runs) > 1 {
		next := runs[:0:0]
		off := 0
		// Each merge of this level in as many pieces as keep every core
		// busy: the last level is one merge of everything.
		pieces := max(1, workers/(len(runs)/2))
		for i := 0; i < len(runs); i += 2 {
			if i+1 == len(runs) {
				out := dst[off : off+len(runs[i])]
				copy(out, runs[i])
				next = append(next, out)
				off += len(out)
				continue
			}
			a, b := runs[i], runs[i+1]
			out := dst[off : off+len(a)+len(b)]
			for k := range pieces {
				lo, hi := len(out)*k/pieces, len(out)*(k+1)/pieces
				wg.Go(func() {
					ia, ib := mergeSplit(a, b, lo, cmp)
					ja, jb := mergeSplit(a, b, hi, cmp)
					mergeRuns(out[lo:hi], a[ia:ja], b[ib:jb], cmp)
				})
			}
			next = append(next, out)
			off += len(out)
		}
		wg.Wait()
		runs = next
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}

// mergeSplit returns how many of the first t elements that mergeRuns
// writes come from a and how many from b (i + j = t): the point where a
// merge can be cut in two independent merges.
func mergeSplit[T any](a, b []T, t int, cmp func(a, b T) int) (i, j int) {
	lo, hi := max(0, t-len(b)), min(t, len(a))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		// a[mid] is among the first t when mergeRuns takes it before
		// b[t-mid-1]: unless that one is smaller.
		if cmp(b[t-mid-1], a[mid]) >= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, t - lo
}

// mergeRuns merges the sorted a and b into out.
func mergeRuns[T any](out, a, b []T, cmp func(a, b T) int) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			out[k] = b[j]
			j++
		} else {
			out[k] = a[i]
			i++
		}
		k++
	}
	k += copy(out[k:], a[i:])
	copy(out[k:], b[j:])
}

// renderBlock is how many items a worker of WriteParallel renders at a
// time: enough to amortise the hand-off, few enough to bound memory.
const renderBlock = 2048

// WriteParallel writes render(i) for every i in [0, n) to w, in order,
// rendering blocks of items on every core while the blocks before them are
// written. render appends item i to dst and returns it; it must be safe to
// call from several goroutines at once. Memory is bounded by a few blocks
// per core, whatever n is.
func WriteParallel(w io.Writer, n int, render func(dst []byte, i int) []byte) error {
	return writeOrdered(w, n, renderBlock, render)
}

// WriteChanges writes render(ch) for every change of p to w, in address
// order, segment by segment on every core (a lazy plan builds each
// segment's creates there, in memory it reuses once they are written).
// render must not keep ch.
func (p *Plan) WriteChanges(w io.Writer, render func(dst []byte, ch *Change) []byte) error {
	return writeOrdered(w, p.Segments(), 1, func(b []byte, i int) []byte {
		changes, done := p.segmentScratch(i)
		for _, ch := range changes {
			b = render(b, ch)
		}
		done()
		return b
	})
}

// writeOrdered is WriteParallel with blocks of per items.
func writeOrdered(w io.Writer, n, per int, render func(dst []byte, i int) []byte) error {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || n <= per {
		var b []byte
		for i := range n {
			b = render(b, i)
			if len(b) >= 1<<16 {
				if _, err := w.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		_, err := w.Write(b)
		return err
	}
	type block struct {
		lo, hi int
		out    chan []byte
	}
	blocks := make(chan *block, 3*workers)
	order := make(chan *block, 3*workers)
	done := make(chan struct{})
	free := make(chan []byte, 3*workers)
	var largest atomic.Int64 // the largest text a block rendered
	// The blocks in flight (handed out, not yet written) are bounded by
	// their text, not their number: a format that writes more per item
	// (-json) has fewer of them at a time, and holds no more memory. They
	// are counted out in order, so the block the writer waits for is
	// always among them.
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inFlight, stopped := 0, false
	limit := func() int {
		l := largest.Load()
		if l == 0 { // one per core until a size is known
			return workers
		}
		return min(3*workers, max(workers, int(int64(workers)*renderBudget/l)))
	}
	release := func() {
		mu.Lock()
		inFlight--
		cond.Broadcast()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(blocks)
		defer close(order)
		for lo := 0; lo < n; lo += per {
			mu.Lock()
			for inFlight >= limit() && !stopped {
				cond.Wait()
			}
			inFlight++
			mu.Unlock()
			bl := &block{lo: lo, hi: min(lo+per, n), out: make(chan []byte, 1)}
			select {
			case order <- bl:
			case <-done:
				return
			}
			select {
			case blocks <- bl:
			case <-done:
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for bl := range blocks {
				var b []byte
				select {
				case b = <-free:
				default:
				}
				// A buffer smaller than the largest text is not grown by
				// append (a quarter at a time, each step garbage, kept
				// while plan holds the collector back: four times the
				// text in all), but made anew, a quarter larger; until a
				// size is known, of firstRender bytes.
				if n := largest.Load(); b == nil || int64(cap(b)) < n {
					if n == 0 {
						n = firstRender * 4 / 5
					}
					b = make([]byte, 0, n+n/4)
				}
				for i := bl.lo; i < bl.hi; i++ {
					b = render(b, i)
				}
				if n := int64(len(b)); n > largest.Load() {
					largest.Store(n) // racy max: any large size will do
				}
				bl.out <- b
			}
		})
	}
	defer wg.Wait()
	defer func() { // after done closes: a counting-out that waits ends too
		mu.Lock()
		stopped = true
		cond.Broadcast()
		mu.Unlock()
	}()
	defer close(done)
	for bl := range order {
		b := <-bl.out
		if _, err := w.Write(b); err != nil {
			return err
		}
		select {
		case free <- b[:0]:
		default:
		}
		release()
	}
	return nil
}

// firstRender is the size of the buffers writeOrdered renders in before
// any block's size is known: room for a segment of 2,048 changes of a plan
// (0.3 MB as text, 0.9 MB as JSON).
const firstRender = 1 << 20

// renderBudget is how much rendered text, per core, writeOrdered keeps in
// flight when its blocks are large: at least one block per core.
const renderBudget = 1536 << 10
