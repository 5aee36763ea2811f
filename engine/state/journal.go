package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// JournalSyncInterval is how often the journal is flushed to stable storage
// (fsync) while records arrive. Every record reaches the operating system
// (a write) before the call counts as done, so a crash of the process loses
// nothing; a power failure can lose the records of at most this interval,
// whose calls the next apply sends again (they are all safe to resend).
const JournalSyncInterval = 200 * time.Millisecond

const journalVersion = "1"

func (f *File) journalPath() string { return f.realPath() + ".journal" }

type journalHeader struct {
	JournalVersion string `json:"journal_version"`
	Lineage        string `json:"lineage"`
}

// OpenJournal creates FILE.journal for records against s. A journal left
// by a crash must have been folded and saved first (Load folds it; Save
// discards it).
func (f *File) OpenJournal(ctx context.Context, s *engine.State) (engine.Journal, error) {
	path := f.journalPath()
	if _, err := fsys.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s: a journal from an earlier apply is still there; save the state first", path)
	}
	fh, err := fsys.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the state journal: %w", err)
	}
	// A journal that failed to start holds no record: remove it, or it
	// would block the next apply until a save.
	fail := func(err error) (engine.Journal, error) {
		fh.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("writing the state journal %s: %w", path, err)
	}
	head, _ := json.Marshal(journalHeader{journalVersion, s.Lineage})
	if _, err := fh.Write(append(head, '\n')); err != nil {
		return fail(err)
	}
	if err := fh.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fail(err)
	}
	j := &journal{file: fh, done: make(chan struct{}), stopped: make(chan struct{})}
	go j.syncLoop()
	return j, nil
}

type journal struct {
	mu      sync.Mutex
	file    file
	buf     []byte
	dirty   bool
	err     error
	done    chan struct{}
	stopped chan struct{}
}

// Record writes rec as one line with one write(2): once it returns, the
// record is in the operating system's hands.
func (j *journal) Record(rec engine.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.buf = append(rec.AppendJSON(j.buf[:0]), '\n')
	if _, err := j.file.Write(j.buf); err != nil {
		j.err = fmt.Errorf("writing the state journal: %w", err)
		return j.err
	}
	j.dirty = true
	return nil
}

func (j *journal) syncLoop() {
	defer close(j.stopped)
	t := time.NewTicker(JournalSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-t.C:
			j.sync()
		}
	}
}

func (j *journal) sync() {
	j.mu.Lock()
	dirty := j.dirty
	j.dirty = false
	j.mu.Unlock()
	if dirty {
		if err := j.file.Sync(); err != nil {
			j.mu.Lock()
			j.err = fmt.Errorf("syncing the state journal: %w", err)
			j.mu.Unlock()
		}
	}
}

// Close syncs and closes the journal; the file stays until Save discards it.
func (j *journal) Close() error {
	close(j.done)
	<-j.stopped
	j.mu.Lock()
	defer j.mu.Unlock()
	serr := j.file.Sync()
	cerr := j.file.Close()
	return errors.Join(j.err, serr, cerr)
}

// replayJournal folds the records of a journal left beside the state into
// s, if there is one. A journal of another lineage is an
// error; a torn last line (a write cut by a power failure) is ignored: its
// call is sent again.
func (f *File) replayJournal(s *engine.State) error {
	fh, err := fsys.OpenFile(f.journalPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the state journal: %w", err)
	}
	defer fh.Close()
	// Streamed, one record at a time: a journal of a million calls is not
	// read into memory.
	sc := bufio.NewScanner(bufio.NewReaderSize(fh, 1<<20))
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	line := 0
	torn := 0 // the line of an unreadable record, if only blank lines follow it
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if torn > 0 {
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			return &CorruptError{Path: f.journalPath(), Line: torn, Msg: "unreadable record"}
		}
		if line == 1 {
			var h journalHeader
			if err := json.Unmarshal(b, &h); err != nil || h.JournalVersion != journalVersion {
				return &CorruptError{Path: f.journalPath(), Line: 1, Msg: "not a reconcile journal of version " + journalVersion}
			}
			if h.Lineage != s.Lineage {
				return &CorruptError{Path: f.journalPath(), Line: 1, Msg: fmt.Sprintf("journal of lineage %s beside a state of lineage %s", h.Lineage, s.Lineage)}
			}
			continue
		}
		var rec engine.Record
		if err := json.Unmarshal(b, &rec); err != nil || rec.Address == "" {
			// Torn by a crash mid-write, if it is the last line: that call
			// is sent again.
			torn = line
			continue
		}
		// A record the state could not hold would be folded in, then make
		// every Save fail: refuse it here, naming the line.
		if prov, _, ok := engine.SplitAddress(rec.Address); !ok || !f.knows(prov) {
			return &CorruptError{Path: f.journalPath(), Line: line, Msg: fmt.Sprintf("record for an invalid address %q", rec.Address)}
		}
		s.ApplyRecord(rec)
	}
	if err := sc.Err(); err != nil {
		return &CorruptError{Path: f.journalPath(), Line: line + 1, Msg: "unreadable record: " + err.Error()}
	}
	return nil
}

// discardJournal removes the journal once a saved state includes it.
func (f *File) discardJournal() error {
	err := fsys.Remove(f.journalPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// knows reports whether the state may hold addresses of service name.
func (f *File) knows(name string) bool {
	if len(f.services) == 0 {
		return validProvider(name)
	}
	return slices.Contains(f.services, name)
}
