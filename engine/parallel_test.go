package engine

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelSort sorts on 1 to 5 cores, lists shorter and longer than
// the parallel threshold, random, sorted and reversed: the order
// slices.Sort gives.
func TestParallelSort(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(3, 4))
	for _, procs := range []int{1, 2, 3, 4, 5} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 100, minParallelSort - 1, minParallelSort, 3*minParallelSort + 7} {
			perm := rng.Perm(n)
			for name, in := range map[string][]int{
				"random":   perm,
				"sorted":   slices.Sorted(slices.Values(perm)),
				"reversed": reversed(slices.Sorted(slices.Values(perm))),
			} {
				got := slices.Clone(in)
				ParallelSort(got, cmp.Compare[int])
				want := slices.Sorted(slices.Values(in))
				if !slices.Equal(got, want) {
					t.Fatalf("%d cores, %d %s: not sorted", procs, n, name)
				}
			}
		}
	}
}

func reversed(s []int) []int {
	slices.Reverse(s)
	return s
}

// TestMergeSplit checks every cut of merges of small runs: the first t
// elements mergeRuns writes are a[:i] and b[:j] merged.
func TestMergeSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		all := rng.Perm(rng.IntN(20))
		k := 0
		if len(all) > 0 {
			k = rng.IntN(len(all) + 1)
		}
		a, b := slices.Sorted(slices.Values(all[:k])), slices.Sorted(slices.Values(all[k:]))
		out := make([]int, len(a)+len(b))
		mergeRuns(out, a, b, cmp.Compare[int])
		for tt := 0; tt <= len(out); tt++ {
			i, j := mergeSplit(a, b, tt, cmp.Compare[int])
			first := make([]int, i+j)
			mergeRuns(first, a[:i], b[:j], cmp.Compare[int])
			if i+j != tt || !slices.Equal(first, out[:tt]) {
				t.Fatalf("a %v b %v, cut at %d: %d of a and %d of b", a, b, tt, i, j)
			}
		}
	}
}

// TestSortByID: the order of ids by their eight-byte prefixes, then in
// full, is strings.Compare's, ids sharing prefixes, shorter than eight
// bytes, or holding zero bytes included.
func TestSortByID(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"", "\x00", "a", "b", "1", "12345678", "1234567", "\xff", "é"}
	seen := map[string]bool{}
	var cs []*Customer
	for len(cs) < 3*minParallelSort {
		var sb strings.Builder
		for range rng.IntN(5) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		fmt.Fprint(&sb, rng.IntN(50))
		if id := sb.String(); !seen[id] {
			seen[id] = true
			cs = append(cs, &Customer{ID: id})
		}
	}
	for i, c := range cs {
		c.Managed = 0b101 | uint64(i%2)<<1 // every one in services 0 and 2, half in 1
	}
	byID, all, some := sortByID(cs)
	if all != 0b101 || some != 0b111 {
		t.Errorf("managed by all %b, by some %b; want 101 and 111", all, some)
	}
	for k := 1; k < len(byID); k++ {
		if a, b := cs[byID[k-1]].ID, cs[byID[k]].ID; a >= b {
			t.Fatalf("%q before %q", a, b)
		}
	}
	if len(byID) != len(cs) {
		t.Fatalf("%d indexes for %d customers", len(byID), len(cs))
	}
}

// TestSeek: from any cursor, seek finds the first customer whose id is not
// below the one sought, as a search from the start does.
func TestSeek(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cs []*Customer
	for i := range 500 {
		cs = append(cs, &Customer{ID: fmt.Sprintf("%05d", 2*i+rng.IntN(2))})
	}
	order := make([]int32, len(cs))
	for i := range order {
		order[i] = int32(i)
	}
	for range 20000 {
		id := fmt.Sprintf("%05d", rng.IntN(1002))
		from := rng.IntN(len(cs) + 1)
		want, _ := slices.BinarySearchFunc(order, id, func(ci int32, id string) int { return strings.Compare(cs[ci].ID, id) })
		if got := seek(cs, order, from, id); got != want {
			t.Fatalf("seek(from %d, %q) = %d, want %d", from, id, got, want)
		}
	}
}

// countingWriter collects what is written, counts the writes, and fails
// the write numbered failAt (from 1; 0: never).
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	failAt int
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes == w.failAt {
		return 0, errors.New("disk full")
	}
	return w.buf.Write(b)
}

func (w *countingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

// TestWriteOrdered: the blocks rendered on every core are written in
// order, whatever their size; large blocks are fewer in flight (at most
// one per core when each is larger than the budget); a failed write ends
// it with the error, every goroutine gone.
func TestWriteOrdered(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const workers = 4
	item := func(size int) func([]byte, int) []byte {
		return func(b []byte, i int) []byte {
			b = fmt.Appendf(b, "%d:", i)
			return append(b, bytes.Repeat([]byte{'x'}, size)...)
		}
	}
	for _, tc := range []struct{ n, per, size int }{{0, 3, 1}, {1, 3, 1}, {10, 3, 1}, {1000, 7, 10}, {24, 1, 2 << 20}} {
		var want []byte
		for i := range tc.n {
			want = item(tc.size)(want, i)
		}
		w := &countingWriter{}
		// Blocks counted out when their rendering starts, back when
		// written: the most in flight at once.
		var started, most atomic.Int64
		render := func(b []byte, i int) []byte {
			if i%tc.per == 0 {
				inFlight := started.Add(1) - int64(w.count())
				for m := most.Load(); inFlight > m && !most.CompareAndSwap(m, inFlight); m = most.Load() {
				}
			}
			return item(tc.size)(b, i)
		}
		if err := writeOrdered(w, tc.n, tc.per, render); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.buf.Bytes(), want) {
			t.Errorf("n %d per %d size %d: wrote %d bytes, want the %d of rendering in order", tc.n, tc.per, tc.size, w.buf.Len(), len(want))
		}
		if tc.size == 2<<20 && most.Load() > workers {
			t.Errorf("blocks of 2 MiB: %d in flight at once, want at most %d", most.Load(), workers)
		}
	}
	before := runtime.NumGoroutine()
	w := &countingWriter{failAt: 3}
	if err := writeOrdered(w, 100, 1, item(2<<20)); err == nil || err.Error() != "disk full" {
		t.Fatalf("writeOrdered = %v, want the write's error", err)
	}
	if w.count() != 3 {
		t.Errorf("%d writes, want 3: it stops at the failed one", w.count())
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after, %d before", n, before)
	}
}

// TestVisitSegments: the segments come in order, every change once, and
// the visit stops when fn says so.
func TestVisitSegments(t *testing.T) {
	p := &Plan{}
	for i := range 3*segmentSize + 5 {
		p.Changes = append(p.Changes, &Change{Address: fmt.Sprintf("bonifiq/%08d", i)})
	}
	var seen []*Change
	p.VisitSegments(func(changes []*Change) bool {
		seen = append(seen, changes...)
		return true
	})
	if !slices.Equal(seen, p.Changes) {
		t.Fatalf("visited %d changes, want the plan's %d in order", len(seen), len(p.Changes))
	}
	calls := 0
	p.VisitSegments(func([]*Change) bool { calls++; return calls < 2 })
	if calls != 2 {
		t.Errorf("visited %d segments after fn said stop at the second", calls)
	}
}
