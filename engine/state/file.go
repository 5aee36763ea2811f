package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/reconcile-dev/reconcile/engine"
)

// File is the state stored in one file, locked through FILE.lock; see the
// package documentation for the format and the guarantees.
type File struct {
	path string
	// services lists the services the state may hold (none: any).
	services []string

	resolve sync.Once
	real    string // path with its symbolic links followed; see realPath

	mu sync.Mutex
	// known is the file as this File last read or wrote it, nil when it
	// has not or the file was missing or unreadable. Save checks a file it
	// does not know in full before replacing it.
	known fs.FileInfo
}

// NewFile returns the backend for the state file at path. Nothing is read
// or created until a method is called. When path is a symbolic link, the
// state is kept in the file it leads to (see realPath). known lists the
// services whose addresses it may hold (none: any well-formed name).
func NewFile(path string, known ...string) *File { return &File{path: path, services: known} }

// String returns the file's path, as given to NewFile.
func (f *File) String() string { return f.path }

// maxLinks is how many symbolic links realPath follows before giving up,
// as Linux does.
const maxLinks = 40

// realPath returns the file the state is kept in: the path given to
// NewFile, or, when that is a symbolic link, the file it leads to, even if
// that does not exist yet (the first save creates it there). The lock, the
// journal, the backup and the temporary files are kept beside it, so that
// the state is locked once whichever name it is reached by, and a save
// keeps the link. The path is resolved once, on first use, so that all the
// operations of one File act on the same file.
func (f *File) realPath() string {
	f.resolve.Do(func() { f.real = followLinks(f.path) })
	return f.real
}

// RealPath returns the file the state is kept in (see realPath): callers
// that move the file itself (state push) must move that one, not a link.
func (f *File) RealPath() string { return f.realPath() }

// followLinks follows the symbolic links path names. A loop, or a link that
// cannot be read, leaves path as given, for the operation on it to report.
func followLinks(path string) string {
	p := path
	for range maxLinks {
		fi, err := fsys.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return p
		}
		target, err := fsys.Readlink(p)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(target) {
			// Relative to the link's directory as the kernel sees it: a
			// target with .. leaves the directory a linked folder leads to.
			dir, err := fsys.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return path
			}
			target = filepath.Join(dir, target)
		}
		p = target
	}
	return path
}

// Load reads the state. A missing file is an empty state with a fresh
// lineage and serial 0, and creates nothing. A file that cannot be read as
// a state gives a *CorruptError (wrapping engine.ErrStateCorrupt) naming
// the line and the problem; Load never writes or repairs the file.
//
// A journal left beside the file by a command that did not finish
// (FILE.journal, see OpenJournal) is folded into the state returned; the
// next Save writes it into the file and removes the journal.
func (f *File) Load(ctx context.Context) (*engine.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.replayJournal(s); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the state file, without the journal.
func (f *File) load(ctx context.Context) (*engine.State, error) {
	f.known = nil
	path := f.realPath()
	fh, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		s := engine.NewState()
		// A first apply that never saved may have left a journal: it
		// belongs to the state that apply created.
		if lineage, ok := f.journalLineage(); ok {
			s.Lineage = lineage
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading state %s: not a regular file", path)
	}
	s, err := read(ctx, fh, path, fi.Size(), f.services)
	if err != nil {
		return nil, err
	}
	f.known = fi
	return s, nil
}

// journalLineage returns the lineage in the header of FILE.journal, if
// there is a readable one.
func (f *File) journalLineage() (string, bool) {
	fh, err := fsys.OpenFile(f.journalPath(), os.O_RDONLY, 0)
	if err != nil {
		return "", false
	}
	defer fh.Close()
	line, _, _ := bytes.Cut(readPrefix(fh, 64<<10), []byte{'\n'})
	var h journalHeader
	if json.Unmarshal(line, &h) != nil || !validLineage(h.Lineage) {
		return "", false
	}
	return h.Lineage, true
}

// readPrefix returns up to n bytes from the start of r.
func readPrefix(r io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return b
}

// Save replaces the file with s, after incrementing s.Serial; the caller
// holds the lock. It writes a temporary file in the same directory
// (.FILE.tmp-<random>, mode 0600; see tempMarker), syncs it, keeps the current file as FILE.backup, renames the new
// file over FILE and syncs the directory: at every moment FILE is either
// the previous state or the new one, whole.
//
// Save refuses, writing nothing, to replace a file that is not a readable
// state (a *CorruptError), or that holds another lineage or a higher serial
// than s.Serial (ErrConflict). A file this File did not itself read or
// write last is read in full for that check.
//
// Once the new file is in place, Save removes FILE.journal: the state
// saved includes its records.
//
// When Save fails, s.Serial is restored and FILE is untouched, except when
// syncing the directory or removing the journal fails after the rename:
// the new file is then in place, s.Serial keeps its new value, and the
// error says so.
//
// Save finishes once started even if ctx is cancelled: a state write cut
// short by Ctrl-C would lose the record of what was applied.
func (f *File) Save(ctx context.Context, s *engine.State) error {
	path := f.realPath()
	if s == nil {
		return fmt.Errorf("saving state %s: no state", path)
	}
	if !validLineage(s.Lineage) {
		return fmt.Errorf("saving state %s: lineage %q is not a UUID", path, s.Lineage)
	}
	ctx = context.WithoutCancel(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkReplace(ctx, path, s); err != nil {
		return err
	}

	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("saving state %s: %w", path, err)
	}
	defer tmp.cleanup()
	old := s.Serial
	s.Serial++
	replaced := false
	defer func() {
		if !replaced {
			s.Serial = old
		}
	}()
	if err := Write(tmp, s, f.services...); err != nil {
		return fmt.Errorf("saving state %s: %w", path, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fmt.Errorf("saving state %s: %w", path, err)
	}
	if err := backup(path); err != nil {
		return fmt.Errorf("saving state %s: keeping the previous version as %s: %w", path, path+".backup", err)
	}
	if err := tmp.replace(path); err != nil {
		return fmt.Errorf("saving state %s: %w", path, err)
	}
	replaced = true
	f.known = fi
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("saving state %s: the new state is in place, but syncing its directory failed, so a power failure could undo it: %w", path, err)
	}
	// The saved state includes the journal's records (Load folded them, or
	// the command that recorded them applied them to s as well).
	if err := f.discardJournal(); err != nil {
		return fmt.Errorf("saving state %s: the new state is in place, but removing the journal it includes failed: %w", path, err)
	}
	return nil
}

// checkReplace refuses to let s replace the file at path if it is not a
// readable state, holds another lineage, or holds a higher serial than s.
func (f *File) checkReplace(ctx context.Context, path string, s *engine.State) error {
	fh, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("saving state %s: not a regular file", path)
	}
	unreadable := func(err error) error {
		return fmt.Errorf("refusing to replace %s, which is not a readable state; move it away or restore it from %s.backup: %w", path, path, err)
	}
	br := &blockReader{r: fh, name: path}
	first, err := br.header()
	var ce *CorruptError
	if errors.As(err, &ce) {
		return unreadable(err)
	} else if err != nil {
		return err
	}
	h, lerr := parseHeader(first, br.peek())
	if lerr != nil {
		return unreadable(&CorruptError{Path: path, Line: 1, Col: lerr.col, Msg: lerr.msg})
	}
	if h.Lineage != s.Lineage {
		return &conflictError{fmt.Sprintf("refusing to replace %s: it holds another state (lineage %s; the state being saved has lineage %s)", path, h.Lineage, s.Lineage)}
	}
	if h.Serial > s.Serial {
		return &conflictError{fmt.Sprintf("refusing to replace %s: it was written since this state was read (serial %d there, %d here); run the command again", path, h.Serial, s.Serial)}
	}
	if f.known != nil && os.SameFile(f.known, fi) && f.known.Size() == fi.Size() && f.known.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if _, err := read(ctx, fh, path, fi.Size(), f.services); errors.As(err, &ce) {
		return unreadable(err)
	} else if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// backup makes the file at path FILE.backup, atomically: a hard link to it
// under a temporary name renamed over FILE.backup, or a copy where the file
// system has no hard links. A missing file leaves FILE.backup alone.
func backup(path string) error {
	dst := path + ".backup"
	tmp := tempName(dst)
	err := fsys.Link(path, tmp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := fsys.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
		return err
	case err != nil:
		return copyFile(path, dst)
	}
	if err := fsys.Rename(tmp, dst); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return nil
}

// copyFile replaces dst with a copy of src, atomically.
func copyFile(src, dst string) error {
	in, err := fsys.OpenFile(src, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := createTemp(dst)
	if err != nil {
		return err
	}
	defer tmp.cleanup()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	return tmp.replace(dst)
}

// syncDir flushes dir's entries (the renames) to disk.
func syncDir(dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
