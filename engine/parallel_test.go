package engine

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
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
