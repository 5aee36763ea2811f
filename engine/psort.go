package engine

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
)

// SortChanges sorts changes by address, on every core.
func SortChanges(changes []*Change) {
	ParallelSort(changes, func(a, b *Change) int { return cmp.Compare(a.Address, b.Address) })
}

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
	src, dst := s, buf
	for len(runs) > 1 {
		next := runs[:0:0]
		off := 0
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
			wg.Go(func() { mergeRuns(out, a, b, cmp) })
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
