package prefault

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_POPULATE_WRITE); errno != 0 {
		if errno == unix.EINVAL {
			unsupported.Store(true)
		}
		return false
	}
	return true
}
