package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A plan allocates what it keeps: the manifests' customers, then the
// changes it finds. Collecting while the heap only grows finds nothing to
// free and costs a full mark of what is live each time it runs (at a
// million customers, six collections took a fifth of the plan's CPU). So
// plan holds the collector back until the heap reaches a floor, and from
// there on runs it as GOGC=100 would, with a goal of twice what the last
// collection found live: a plan that stays under the floor never collects,
// and one that outgrows it (or makes garbage) is collected as usual.
//
// The floor is a soft memory limit with the collector off
// (debug.SetMemoryLimit, debug.SetGCPercent(-1)) that a finalizer raises
// after each collection to twice the live heap. An operator who set GOGC
// or GOMEMLIMIT keeps the runtime as they set it.

// planHeapFloor is the heap plan may grow to before it first collects.
const planHeapFloor = 1 << 30

// gcHold is the process's hold on the collector: the settings of the
// runtime before the first of its holders, restored after the last.
var gcHold struct {
	sync.Mutex
	holders int
	floor   int64
	percent int
	limit   int64
	epoch   int // which hold the armed finalizers serve
}

// holdGC holds the collector back until the heap reaches floor bytes, and
// returns the function that releases the hold (once; later calls do
// nothing). Holds nest (tests run plans side by side): the first sets the
// runtime, the last release restores it.
func holdGC(floor int64) (release func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	h := &gcHold
	h.Lock()
	defer h.Unlock()
	if h.holders == 0 {
		h.epoch++
		h.floor = floor
		h.limit = debug.SetMemoryLimit(-1)
		h.percent = debug.SetGCPercent(-1)
		debug.SetMemoryLimit(floor)
		armGCHold(h.epoch)
	}
	h.holders++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.Lock()
			defer h.Unlock()
			if h.holders--; h.holders == 0 {
				debug.SetGCPercent(h.percent)
				debug.SetMemoryLimit(h.limit)
			}
		})
	}
}

// gcSentinel is freed by each collection: its finalizer runs after it.
type gcSentinel struct{ _ *int }

// armGCHold sets a finalizer that runs after the next collection: while
// the hold of epoch lasts, it raises the limit to twice the live heap (or
// the floor) and arms the next.
func armGCHold(epoch int) {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		h := &gcHold
		h.Lock()
		defer h.Unlock()
		if h.holders == 0 || h.epoch != epoch {
			return
		}
		debug.SetMemoryLimit(max(h.floor, 2*liveHeap()))
		armGCHold(epoch)
	})
}

// liveHeap returns the bytes the last collection found live.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
