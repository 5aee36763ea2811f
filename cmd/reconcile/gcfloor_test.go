package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// sink keeps allocations from being optimised away.
var sink [][]byte

// TestHoldGC checks plan's collector setting: no collection while the heap
// stays under the floor, collections once it outgrows it, with the limit
// then raised to twice the live heap, and the runtime's own settings back
// after release.
func TestHoldGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	runtime.GC()
	const floor = 256 << 20
	release := holdGC(floor)
	defer release()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GC percent %d while held, want -1 (off)", p)
	}
	if l := debug.SetMemoryLimit(-1); l != floor {
		t.Fatalf("memory limit %d while held, want the floor %d", l, floor)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	for range 64 { // 64 MiB of garbage: under the floor
		sink = append(sink[:0], make([]byte, 1<<20))
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC != before {
		t.Fatalf("%d collections under the floor, want none", ms.NumGC-before)
	}
	// Keep 200 MiB live and make 1 GiB of garbage: the heap outgrows the
	// floor, so the collector runs, and the limit follows what is live.
	live := make([][]byte, 200)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	for range 1024 {
		sink = append(sink[:0], make([]byte, 1<<20))
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC == before {
		t.Fatal("no collection after the heap outgrew the floor")
	}
	runtime.GC()
	runtime.GC() // the finalizer of the first has run by the end of the second
	if l := debug.SetMemoryLimit(-1); l < 2*200<<20 || l > 2*300<<20 {
		t.Fatalf("memory limit %d MiB after a collection with 200 MiB live, want about 400", l>>20)
	}
	runtime.KeepAlive(live)
	release()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GC percent %d after release, want 100 back", p)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d after release, want none", l)
	}
	// A second release changes nothing: not the runtime, not the count of
	// holds (a next hold still sets and restores it).
	debug.SetGCPercent(77)
	release()
	if p := debug.SetGCPercent(-1); p != 77 {
		t.Fatalf("GC percent %d after a second release, want 77 left alone", p)
	}
	debug.SetGCPercent(77)
	again := holdGC(floor)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GC percent %d in a hold after a second release, want -1", p)
	}
	again()
	if p := debug.SetGCPercent(100); p != 77 {
		t.Fatalf("GC percent %d after that hold, want 77 back", p)
	}

	// Holds nest: the runtime is set by the first and restored by the last.
	r1, r2 := holdGC(floor), holdGC(floor)
	r1()
	r1()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GC percent %d with one hold left, want -1", p)
	}
	r2()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GC percent %d after the last release, want 100 back", p)
	}

	// An operator's GOGC is left alone.
	t.Setenv("GOGC", "100")
	holdGC(floor)()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GC percent %d with GOGC set, want it untouched (100)", p)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d with GOGC set, want none", l)
	}
}
