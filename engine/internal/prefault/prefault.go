// Package prefault maps a block's memory before it is filled.
//
// Memory fresh from the kernel is mapped on first use, a page at a time:
// each first write traps into the kernel, which zeroes a page and maps it.
// A million-customer plan fills about 400 MB of blocks that way, over
// 100,000 traps. Where the kernel can (Linux 5.14 and later,
// MADV_POPULATE_WRITE), Slice maps a whole block in one call, which does
// the same work without a trap per page; elsewhere it writes to each page
// once, as soon as the block is made, so that the pages are mapped for
// writing at once (a first read would map a shared page of zeros that the
// first write must then replace). A block that spans whole 2 MiB pages
// asks for them to be huge pages first (MADV_HUGEPAGE), mapped 2 MiB at a
// time.
package prefault

import "unsafe"

// pageSize is the stride of the writes (the pages may be larger).
const pageSize = 4096

// minPopulate is the smallest block mapped in a call: a few pages are
// written sooner than the call is made.
const minPopulate = 64 << 10

// Slice maps the memory of s, which must be zeroed (just made), for
// writing.
func Slice[T any](s []T) {
	var t T
	n := uintptr(cap(s)) * unsafe.Sizeof(t)
	if n == 0 {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(s))
	if n >= minPopulate && populate(p, n) {
		return
	}
	for off := uintptr(0); off < n; off += pageSize {
		// A zero byte over zeroed memory: mapped for writing, unchanged.
		*(*byte)(unsafe.Add(p, off)) = 0
	}
}
