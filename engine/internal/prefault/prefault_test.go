//go:build linux

package prefault

import (
	"runtime"
	"syscall"
	"testing"
)

func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// fill writes every page of s and returns the minor page faults the writes
// took.
func fill(t *testing.T, s []uint64) int64 {
	runtime.LockOSThread() // the count is the process's; keep the test still
	defer runtime.UnlockOSThread()
	before := minorFaults(t)
	for i := 0; i < len(s); i += pageSize / 8 {
		s[i] = uint64(i)
	}
	return minorFaults(t) - before
}

// TestSlice: a block mapped by Slice, by either way, is still zero and
// takes almost no page fault when it is filled; one not mapped takes one a
// page.
func TestSlice(t *testing.T) {
	const n = 32 << 20 / 8 // 32 MiB: 8,192 pages
	pages := int64(n * 8 / pageSize)
	if got := fill(t, make([]uint64, n)); got < pages/2 {
		t.Fatalf("filling fresh memory took %d page faults, want about %d (the test measures nothing)", got, pages)
	}
	for _, way := range []string{"populate", "write a byte a page"} {
		unsupported.Store(way != "populate")
		s := make([]uint64, n)
		Slice(s)
		for i, v := range s {
			if v != 0 {
				t.Fatalf("%s: word %d is %d after Slice, want 0", way, i, v)
			}
		}
		if got := fill(t, s); got > pages/20 {
			t.Errorf("%s: filling a mapped block took %d page faults for %d pages", way, got, pages)
		}
	}
	unsupported.Store(false)
	Slice([]uint64(nil)) // nothing to map
}
