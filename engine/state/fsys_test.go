package state

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// errInjected is the error a faultFS returns.
var errInjected = errors.New("injected fault")

// fault makes the calls of one operation on matching names fail.
type fault struct {
	// op is the call: open, lstat, readlink, evalsymlinks, readdir, rename,
	// remove, link, flock, or, on an open file, read, write, writeat,
	// seek, stat, sync, truncate, close.
	op string
	// name is a filepath.Match pattern for the base name of the file the
	// call is on (for rename and link, the first name), or for its full
	// path when it holds a slash.
	name string
	// skip is how many matching calls succeed first; times, how many then
	// fail (0: all of them).
	skip, times int
	// err is the error returned; errInjected when nil.
	err error
	// before, when set, runs before each matching call, failing or not;
	// with pass, the calls never fail.
	before func()
	pass   bool

	hits int
}

// faultFS is the operating system with faults injected where a test says,
// and a log of the calls made.
type faultFS struct {
	osFS
	mu     sync.Mutex
	faults []*fault
	calls  []string // "op base-name"
	open   map[*faultFile]bool
}

// withFaults swaps fsys for a faultFS injecting faults until the test ends.
// Tests that use it must not run in parallel.
func withFaults(t *testing.T, faults ...*fault) *faultFS {
	t.Helper()
	ffs := &faultFS{faults: faults, open: map[*faultFile]bool{}}
	old := fsys
	fsys = ffs
	t.Cleanup(func() { fsys = old })
	return ffs
}

// check logs a call and returns the error injected into it, if any.
func (ffs *faultFS) check(op, name string) error {
	ffs.mu.Lock()
	ffs.calls = append(ffs.calls, op+" "+filepath.Base(name))
	var hooks []func()
	var err error
	for _, f := range ffs.faults {
		target := filepath.Base(name)
		if strings.Contains(f.name, "/") {
			target = name
		}
		if ok, _ := filepath.Match(f.name, target); f.op != op || !ok {
			continue
		}
		if f.before != nil {
			hooks = append(hooks, f.before)
		}
		if f.pass {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		if f.times > 0 && f.hits >= f.times {
			continue
		}
		f.hits++
		if err == nil {
			err = f.err
			if err == nil {
				err = errInjected
			}
		}
	}
	ffs.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	return err
}

// count returns how many calls op made on the base name.
func (ffs *faultFS) count(op, base string) int {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	n := 0
	for _, c := range ffs.calls {
		if c == op+" "+base {
			n++
		}
	}
	return n
}

// stillOpen returns the base names of the files opened and not closed.
func (ffs *faultFS) stillOpen() []string {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	var names []string
	for f := range ffs.open {
		names = append(names, filepath.Base(f.name))
	}
	slices.Sort(names)
	return names
}

// assertAllClosed fails the test if a file opened through ffs is still open.
func (ffs *faultFS) assertAllClosed(t *testing.T) {
	t.Helper()
	if open := ffs.stillOpen(); len(open) > 0 {
		t.Errorf("files left open: %v", open)
	}
}

func (ffs *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	if err := ffs.check("open", name); err != nil {
		return nil, err
	}
	fh, err := ffs.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{file: fh, fs: ffs, name: name}
	ffs.mu.Lock()
	ffs.open[ff] = true
	ffs.mu.Unlock()
	return ff, nil
}

func (ffs *faultFS) Lstat(name string) (fs.FileInfo, error) {
	if err := ffs.check("lstat", name); err != nil {
		return nil, err
	}
	return ffs.osFS.Lstat(name)
}

func (ffs *faultFS) Readlink(name string) (string, error) {
	if err := ffs.check("readlink", name); err != nil {
		return "", err
	}
	return ffs.osFS.Readlink(name)
}

func (ffs *faultFS) EvalSymlinks(path string) (string, error) {
	if err := ffs.check("evalsymlinks", path); err != nil {
		return "", err
	}
	return ffs.osFS.EvalSymlinks(path)
}

func (ffs *faultFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := ffs.check("readdir", name); err != nil {
		return nil, err
	}
	return ffs.osFS.ReadDir(name)
}

func (ffs *faultFS) Rename(oldpath, newpath string) error {
	if err := ffs.check("rename", oldpath); err != nil {
		return err
	}
	return ffs.osFS.Rename(oldpath, newpath)
}

func (ffs *faultFS) Remove(name string) error {
	if err := ffs.check("remove", name); err != nil {
		return err
	}
	return ffs.osFS.Remove(name)
}

func (ffs *faultFS) Link(oldname, newname string) error {
	if err := ffs.check("link", oldname); err != nil {
		return err
	}
	return ffs.osFS.Link(oldname, newname)
}

func (ffs *faultFS) Flock(f file, how int) error {
	ff := f.(*faultFile)
	if err := ffs.check("flock", ff.name); err != nil {
		return err
	}
	return ffs.osFS.Flock(ff.file, how)
}

// faultFile is a file opened through a faultFS.
type faultFile struct {
	file
	fs   *faultFS
	name string
}

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.fs.check("read", f.name); err != nil {
		return 0, err
	}
	return f.file.Read(p)
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.name); err != nil {
		return 0, err
	}
	return f.file.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check("writeat", f.name); err != nil {
		return 0, err
	}
	return f.file.WriteAt(p, off)
}

func (f *faultFile) Seek(off int64, whence int) (int64, error) {
	if err := f.fs.check("seek", f.name); err != nil {
		return 0, err
	}
	return f.file.Seek(off, whence)
}

func (f *faultFile) Stat() (fs.FileInfo, error) {
	if err := f.fs.check("stat", f.name); err != nil {
		return nil, err
	}
	return f.file.Stat()
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.name); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.check("truncate", f.name); err != nil {
		return err
	}
	return f.file.Truncate(size)
}

// Close closes the file even when it injects a fault: the descriptor is
// gone either way, as with close(2).
func (f *faultFile) Close() error {
	err := f.fs.check("close", f.name)
	f.fs.mu.Lock()
	delete(f.fs.open, f)
	f.fs.mu.Unlock()
	if cerr := f.file.Close(); err == nil {
		err = cerr
	}
	return err
}
