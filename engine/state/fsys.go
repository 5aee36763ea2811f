package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
)

// fileSystem is the operating system as the file backend uses it. Every
// call that can fail goes through fsys, so that tests can make each one
// fail (a full disk, a failed fsync, a rename or a lock refused) and check
// what the backend does then.
type fileSystem interface {
	OpenFile(name string, flag int, perm fs.FileMode) (file, error)
	Lstat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
	EvalSymlinks(path string) (string, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Link(oldname, newname string) error
	// Flock applies flock(2) operation how to f.
	Flock(f file, how int) error
}

// file is an open file; *os.File is one.
type file interface {
	io.Reader
	io.Writer
	io.WriterAt
	io.Seeker
	Stat() (fs.FileInfo, error)
	Sync() error
	Truncate(size int64) error
	Close() error
	Fd() uintptr
}

// fsys is the operating system; tests swap it for one that injects faults.
var fsys fileSystem = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	fh, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a non-nil interface holding a nil *os.File
	}
	return fh, nil
}

func (osFS) Lstat(name string) (fs.FileInfo, error)     { return os.Lstat(name) }
func (osFS) Readlink(name string) (string, error)       { return os.Readlink(name) }
func (osFS) EvalSymlinks(path string) (string, error)   { return filepath.EvalSymlinks(path) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osFS) Rename(oldpath, newpath string) error       { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                   { return os.Remove(name) }
func (osFS) Link(oldname, newname string) error         { return os.Link(oldname, newname) }

func (osFS) Flock(f file, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// tempMarker is in the name of every temporary file a save writes beside
// the state: .FILE.tmp-<16 hex digits> for the new state, and
// .FILE.backup.tmp-<16 hex digits> for the new backup. A save cut short by
// a kill leaves its temporary file behind; the next holder of the lock
// removes it (removeStaleTemps).
const tempMarker = ".tmp-"

// tempName returns a fresh temporary name beside dst.
func tempName(dst string) string {
	return filepath.Join(filepath.Dir(dst), fmt.Sprintf(".%s%s%016x", filepath.Base(dst), tempMarker, rand.Uint64()))
}

// tempNames returns the pattern of the temporary names of the state
// file named base and of its backup.
func tempNames(base string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `(\.backup)?` + regexp.QuoteMeta(tempMarker) + `[0-9a-f]{16}$`)
}

// tempFile is a new file written under a temporary name beside its
// destination, then renamed over it once whole and synced.
type tempFile struct {
	file
	name    string
	renamed bool
}

// createTemp creates a temporary file for dst, mode 0600.
func createTemp(dst string) (*tempFile, error) {
	for range 100 {
		name := tempName(dst)
		fh, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another save's name, however unlikely: draw again
		}
		if err != nil {
			return nil, err
		}
		return &tempFile{file: fh, name: name}, nil
	}
	return nil, fmt.Errorf("creating a temporary file beside %s: every name drawn is taken", dst)
}

// replace syncs and closes the file, then renames it over dst.
func (t *tempFile) replace(dst string) error {
	if err := t.Sync(); err != nil {
		return err
	}
	if err := t.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(t.name, dst); err != nil {
		return err
	}
	t.renamed = true
	return nil
}

// cleanup removes the temporary file unless it was renamed into place.
func (t *tempFile) cleanup() {
	if !t.renamed {
		t.Close()
		fsys.Remove(t.name)
	}
}
