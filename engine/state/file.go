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
	"runtime"
	"sync"

	"github.com/google/renameio/v2"
	"github.com/google/uuid"

	"github.com/reconcile-dev/reconcile/engine"
)

// File is the state stored in one file, locked through FILE.lock; see the
// package documentation for the format and the guarantees.
type File struct {
	path string
	// services lists the services the state may hold (none: any).
	services []string

	mu sync.Mutex
	// known is the file as this File last read or wrote it, nil when it
	// has not or the file was missing or unreadable. Save checks a file it
	// does not know in full before replacing it.
	known fs.FileInfo
}

// NewFile returns the backend for the state file at path. Nothing is read
// or created until a method is called.
// known lists the services whose addresses it may hold (none: any
// well-formed name).
func NewFile(path string, known ...string) *File { return &File{path: path, services: known} }

// String returns the file's path.
func (f *File) String() string { return f.path }

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
	if _, err := f.replayJournal(s); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the state file, without the journal.
func (f *File) load(ctx context.Context) (*engine.State, error) {
	f.known = nil
	fh, err := os.Open(f.path)
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
		return nil, fmt.Errorf("reading state %s: not a regular file", f.path)
	}
	s, err := read(ctx, fh, f.path, fi.Size(), f.services)
	if err != nil {
		return nil, err
	}
	f.known = fi
	return s, nil
}

// journalLineage returns the lineage in the header of FILE.journal, if
// there is a readable one.
func (f *File) journalLineage() (string, bool) {
	fh, err := os.Open(f.journalPath())
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
// holds the lock. It writes a temporary file in the same directory (mode
// 0600), syncs it, keeps the current file as FILE.backup, renames the new
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
	if s == nil {
		return fmt.Errorf("saving state %s: no state", f.path)
	}
	if !validLineage(s.Lineage) {
		return fmt.Errorf("saving state %s: lineage %q is not a UUID", f.path, s.Lineage)
	}
	ctx = context.WithoutCancel(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkReplace(ctx, s); err != nil {
		return err
	}

	dir := filepath.Dir(f.path)
	pf, err := renameio.NewPendingFile(f.path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	defer pf.Cleanup()
	old := s.Serial
	s.Serial++
	replaced := false
	defer func() {
		if !replaced {
			s.Serial = old
		}
	}()
	if err := Write(pf, s, f.services...); err != nil {
		return fmt.Errorf("saving state %s: %w", f.path, err)
	}
	fi, err := pf.Stat()
	if err != nil {
		return fmt.Errorf("saving state %s: %w", f.path, err)
	}
	if err := f.backup(); err != nil {
		return fmt.Errorf("saving state %s: keeping the previous version as %s: %w", f.path, f.path+".backup", err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("saving state %s: %w", f.path, err)
	}
	replaced = true
	f.known = fi
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("saving state %s: the new state is in place, but syncing its directory failed, so a power failure could undo it: %w", f.path, err)
	}
	// The saved state includes the journal's records (Load folded them, or
	// the command that recorded them applied them to s as well).
	if err := f.discardJournal(); err != nil {
		return fmt.Errorf("saving state %s: the new state is in place, but removing the journal it includes failed: %w", f.path, err)
	}
	return nil
}

// checkReplace refuses to let s replace a file that is not a readable
// state, holds another lineage, or holds a higher serial than s.
func (f *File) checkReplace(ctx context.Context, s *engine.State) error {
	fh, err := os.Open(f.path)
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
		return fmt.Errorf("saving state %s: not a regular file", f.path)
	}
	unreadable := func(err error) error {
		return fmt.Errorf("refusing to replace %s, which is not a readable state; move it away or restore it from %s.backup: %w", f.path, f.path, err)
	}
	br := &blockReader{r: fh, name: f.path}
	first, err := br.header()
	var ce *CorruptError
	if errors.As(err, &ce) {
		return unreadable(err)
	} else if err != nil {
		return err
	}
	h, lerr := parseHeader(first, br.peek())
	if lerr != nil {
		return unreadable(&CorruptError{Path: f.path, Line: 1, Col: lerr.col, Msg: lerr.msg})
	}
	if h.Lineage != s.Lineage {
		return &conflictError{fmt.Sprintf("refusing to replace %s: it holds another state (lineage %s; the state being saved has lineage %s)", f.path, h.Lineage, s.Lineage)}
	}
	if h.Serial > s.Serial {
		return &conflictError{fmt.Sprintf("refusing to replace %s: it was written since this state was read (serial %d there, %d here); run the command again", f.path, h.Serial, s.Serial)}
	}
	if f.known != nil && os.SameFile(f.known, fi) && f.known.Size() == fi.Size() && f.known.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if _, err := read(ctx, fh, f.path, fi.Size(), f.services); errors.As(err, &ce) {
		return unreadable(err)
	} else if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// backup makes the current file FILE.backup, atomically: a hard link to it
// under a temporary name renamed over FILE.backup, or a copy where the file
// system has no hard links. A missing FILE leaves FILE.backup alone.
func (f *File) backup() error {
	dst := f.path + ".backup"
	tmp := filepath.Join(filepath.Dir(f.path), "."+filepath.Base(dst)+"."+uuid.NewString())
	err := os.Link(f.path, tmp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Lstat(f.path); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
		return err
	case err != nil:
		return copyFile(f.path, dst)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyFile replaces dst with a copy of src, atomically.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	pf, err := renameio.NewPendingFile(dst, renameio.WithTempDir(filepath.Dir(dst)), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if _, err := io.Copy(pf, in); err != nil {
		return err
	}
	return pf.CloseAtomicallyReplace()
}

// syncDir flushes dir's entries (the renames) to disk.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
