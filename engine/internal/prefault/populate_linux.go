package prefault

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of the huge pages asked for.
const hugePage = 2 << 20

// unsupported is set once the kernel refuses MADV_POPULATE_WRITE.
var unsupported atomic.Bool

// populate maps the pages that hold the n bytes at p for writing, without
// changing them, and reports whether it could.
func populate(p unsafe.Pointer, n uintptr) bool {
	if unsupported.Load() {
		return false
	}
	start := uintptr(p) &^ (pageSize - 1)
	end := (uintptr(p) + n + pageSize - 1) &^ (pageSize - 1)
	// The whole huge pages inside the block are asked to be huge first
	// (advice: transparent huge pages "madvise", the usual default,
	// follows it), so that they are mapped 2 MiB at a time: fewer page
	// tables to fill, TLB entries to miss and pages to free at exit.
	if hs, he := (uintptr(p)+hugePage-1)&^(hugePage-1), (uintptr(p)+n)&^(hugePage-1); he > hs {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, hs, he-hs, unix.MADV_HUGEPAGE)
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_POPULATE_WRITE); errno != 0 {
		if errno == unix.EINVAL {
			unsupported.Store(true)
		}
		return false
	}
	return true
}
