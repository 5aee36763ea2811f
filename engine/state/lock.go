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
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/reconcile-dev/reconcile/engine"
)

// Lock waits: the first retry comes after minLockRetry, then the pause
// doubles up to maxLockRetry.
const (
	minLockRetry = 100 * time.Millisecond
	maxLockRetry = time.Second
)

// lockPath is the file that carries the OS lock and the holder's LockInfo.
func (f *File) lockPath() string { return f.realPath() + ".lock" }

// Lock takes the exclusive lock for operation: an OS lock (flock) on
// FILE.lock, which then holds the LockInfo as JSON for whoever finds it
// held. A held lock is retried with pauses of 100 ms growing to 1 s until
// timeout has passed (0: one try); then Lock returns *engine.LockedError
// with the holder's info. The OS releases the lock when its process ends,
// however it ends.
//
// FILE.lock is opened without following symbolic links, and one that is
// not a regular file is refused: a link planted there would otherwise have
// its target truncated. Once the lock is held, Lock removes the temporary
// files of saves that a kill cut short.
func (f *File) Lock(ctx context.Context, operation string, timeout time.Duration) (engine.Unlocker, error) {
	path := f.lockPath()
	info := engine.LockInfo{
		ID:        uuid.NewString(),
		Who:       who(),
		Operation: operation,
		PID:       os.Getpid(),
		Path:      absPath(f.path),
	}
	fh, err := openLockFile(path)
	if err != nil {
		return nil, fmt.Errorf("locking state %s: %w", f.path, err)
	}
	held := false
	defer func() {
		if !held {
			fh.Close() // which releases a lock taken on it
		}
	}()
	start := time.Now()
	pause := minLockRetry
	for {
		err := fsys.Flock(fh, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			l, err := hold(fh, path, info)
			if err != nil {
				return nil, fmt.Errorf("locking state %s: %w", f.path, err)
			}
			held = true
			f.removeStaleTemps()
			return l, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking state %s: %w", f.path, err)
		}
		waited := time.Since(start)
		if waited >= timeout {
			return nil, &engine.LockedError{Info: holder(path), Waited: timeout}
		}
		t := time.NewTimer(min(pause, timeout-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the state lock (%s): %w", holder(path).String(), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, maxLockRetry)
	}
}

// openLockFile opens the lock file at path for reading and writing,
// creating it if needed, and refuses a symbolic link or anything else that
// is not a regular file (O_NONBLOCK: opening a FIFO does not wait).
func openLockFile(path string) (file, error) {
	fh, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link, not a lock file: remove it (reconcile never makes one, and following it would overwrite its target)", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s), not a lock file: remove it", path, fi.Mode().Type())
	}
	return fh, nil
}

// removeStaleTemps removes the temporary files of saves cut short by a
// kill (see tempMarker). Only a holder of the lock saves, so while this
// one holds it no other process is writing one. Failures are left for the
// next Lock: they cost disk space, not correctness.
func (f *File) removeStaleTemps() {
	dir, base := filepath.Split(f.realPath())
	if dir == "" {
		dir = "."
	}
	stale := tempNames(base)
	ents, _ := fsys.ReadDir(dir)
	for _, e := range ents {
		if stale.MatchString(e.Name()) {
			fsys.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// fileLock is a held lock.
type fileLock struct {
	mu   sync.Mutex
	fh   file // FILE.lock, locked; nil once released
	path string
}

// hold records info in the lock file fh, which is locked. A lock file
// replaced (deleted by hand) between its opening and its locking is no
// lock: another process may have locked the new one.
func hold(fh file, path string, info engine.LockInfo) (*fileLock, error) {
	opened, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	named, err := fsys.Lstat(path)
	if err != nil || !os.SameFile(opened, named) {
		return nil, fmt.Errorf("%s was replaced while being locked (never delete it by hand; use force-unlock); try again", path)
	}
	info.Created = time.Now().UTC()
	b, _ := json.Marshal(info) // strings, an int and a time of now: it cannot fail
	// One write after the truncation: a reader sees no info or all of it.
	if err := fh.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := fh.WriteAt(append(b, '\n'), 0); err != nil {
		return nil, err
	}
	return &fileLock{fh: fh, path: path}, nil
}

// Unlock clears the info and releases the lock, by closing the lock file:
// the OS lock belongs to that open file. The lock file stays: a process may
// have it open, waiting to lock it, and removing it would let that process
// and the next one each lock a different file. Unlocking twice is
// harmless.
func (l *fileLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fh == nil {
		return nil
	}
	err := errors.Join(l.fh.Truncate(0), l.fh.Close())
	l.fh = nil
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", l.path, err)
	}
	return nil
}

// ForceUnlock clears the lock with this id when its holder is gone. An OS
// lock cannot be broken: while the holder lives, ForceUnlock refuses and
// says who it is; once it ends the OS has already released the lock, and
// ForceUnlock only clears the info left behind. It is part of the Backend
// contract for shared backends, whose locks can outlive their holder.
func (f *File) ForceUnlock(ctx context.Context, id string) error {
	path := f.lockPath()
	info, ok, err := readLockInfo(path)
	if err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	if !ok {
		if _, err := fsys.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("force-unlock: no lock with ID %s: the state %s is not locked", id, f.path)
		}
		fh, err := openLockFile(path)
		if err != nil {
			return fmt.Errorf("force-unlock: %w", err)
		}
		defer fh.Close()
		if fsys.Flock(fh, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			return fmt.Errorf("force-unlock: no lock with ID %s: the state %s is not locked", id, f.path)
		}
		return fmt.Errorf("force-unlock: no lock with ID %s: the state %s is locked but its holder has not recorded who it is yet; try again", id, f.path)
	}
	if info.ID != id {
		return fmt.Errorf("force-unlock: no lock with ID %s (current lock: %s)", id, info)
	}
	fh, err := openLockFile(path)
	if err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	defer fh.Close()
	err = fsys.Flock(fh, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("force-unlock: lock %s is held by a live process (PID %d, %s, %q): the operating system releases it as soon as that process ends, so there is nothing to force; force-unlock is for locks whose holder is gone", id, info.PID, info.Who, info.Operation)
	}
	if err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	// The holder is gone; clear what it left. Holding the OS lock, nobody
	// can be writing the info meanwhile.
	if err := fh.Truncate(0); err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	return nil
}

// readLockInfo returns the info in the lock file at path, and whether there
// is any. Info that does not decode is returned as a LockInfo saying so.
func readLockInfo(path string) (engine.LockInfo, bool, error) {
	var info engine.LockInfo
	fh, err := fsys.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return info, false, nil
	}
	if err != nil {
		return info, false, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 64<<10))
	if err != nil {
		return info, false, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return info, false, nil
	}
	if err := json.Unmarshal(b, &info); err != nil || info.ID == "" {
		return engine.LockInfo{ID: "?", Who: "unknown", Operation: fmt.Sprintf("unreadable lock info %q", truncate(b, 60)), Path: path}, true, nil
	}
	return info, true, nil
}

// holder returns the info of a lock found held. A holder that has just
// taken the lock may not have written its info yet: look twice.
func holder(path string) engine.LockInfo {
	for try := 0; ; try++ {
		info, ok, err := readLockInfo(path)
		if ok {
			return info
		}
		if try == 1 || err != nil {
			return engine.LockInfo{ID: "?", Who: "unknown", Operation: "unknown (no lock info recorded)", Path: path}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// currentUser and hostname are the operating system's; tests swap them.
var (
	currentUser = user.Current
	hostname    = os.Hostname
)

// who returns user@host for LockInfo.
func who() string {
	name := os.Getenv("USER")
	if u, err := currentUser(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = fmt.Sprintf("uid %d", os.Getuid())
	}
	host, err := hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + host
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
