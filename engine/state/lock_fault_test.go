package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// TestLockFailuresLeaveNoLockHeld: whichever step of taking the lock
// fails, Lock returns that error, closes what it opened, and the next Lock
// gets the lock at once.
func TestLockFailuresLeaveNoLockHeld(t *testing.T) {
	tests := []struct {
		name  string
		fault *fault
		want  string
	}{
		{"open", &fault{op: "open", name: "*.lock"}, "locking state PATH: injected fault"},
		{"stat at open", &fault{op: "stat", name: "*.lock"}, "locking state PATH: injected fault"},
		{"flock", &fault{op: "flock", name: "*.lock"}, "locking state PATH: injected fault"},
		{"stat once locked", &fault{op: "stat", name: "*.lock", skip: 1}, "locking state PATH: injected fault"},
		{"lstat once locked", &fault{op: "lstat", name: "*.lock"}, "was replaced while being locked"},
		{"truncate", &fault{op: "truncate", name: "*.lock"}, "locking state PATH: injected fault"},
		{"write the info", &fault{op: "writeat", name: "*.lock"}, "locking state PATH: injected fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			ffs := withFaults(t, tt.fault)
			l, err := NewFile(path).Lock(t.Context(), "apply", 0)
			want := strings.ReplaceAll(tt.want, "PATH", path)
			if l != nil || err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Lock = %v, %v; want %q", l, err, want)
			}
			ffs.assertAllClosed(t)
			fsys = osFS{}
			l, err = NewFile(path).Lock(t.Context(), "plan", 0)
			if err != nil {
				t.Fatalf("Lock after a failed Lock = %v; want the lock", err)
			}
			l.Unlock()
		})
	}
}

// TestLockFileReplacedWhileLockingIsNoLock: a lock file deleted by hand and
// made again between Lock's open and its flock is not the lock others
// take: Lock refuses it.
func TestLockFileReplacedWhileLockingIsNoLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	replace := func() {
		os.Remove(path + ".lock")
		os.WriteFile(path+".lock", nil, 0o600)
	}
	withFaults(t, &fault{op: "flock", name: "*.lock", pass: true, before: replace})
	_, err := NewFile(path).Lock(t.Context(), "apply", 0)
	if err == nil || !strings.Contains(err.Error(), path+".lock was replaced while being locked") {
		t.Fatalf("Lock = %v; want a refusal", err)
	}
}

// TestUnlockFailures: a failure to clear the info or to close is reported,
// the lock is released all the same, and a second Unlock does nothing.
func TestUnlockFailures(t *testing.T) {
	for _, op := range []string{"truncate", "close"} {
		t.Run(op, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			skip := 0
			if op == "truncate" {
				skip = 1 // Lock's own
			}
			ffs := withFaults(t, &fault{op: op, name: "*.lock", skip: skip, times: 1})
			l, err := NewFile(path).Lock(t.Context(), "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Unlock(); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "unlocking "+path+".lock") {
				t.Errorf("Unlock = %v; want the %s failure", err, op)
			}
			if err := l.Unlock(); err != nil {
				t.Errorf("second Unlock = %v", err)
			}
			ffs.assertAllClosed(t)
			l2, err := NewFile(path).Lock(t.Context(), "plan", 0)
			if err != nil {
				t.Fatalf("Lock after a failed Unlock = %v; want the lock released", err)
			}
			l2.Unlock()
		})
	}
}

// TestHolderLooksTwiceForInfo: a holder that has just locked may not have
// written its info yet: the info is read a second time after 20 ms, and
// no more; a lock file that cannot be read is not waited for.
func TestHolderLooksTwiceForInfo(t *testing.T) {
	info := engine.LockInfo{ID: "0b8f8f8e-1111-4222-8333-944455556666", Who: "ana@laptop", Operation: "apply", PID: 42}
	t.Run("info written meanwhile", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json.lock")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			go func() {
				time.Sleep(10 * time.Millisecond)
				b, _ := json.Marshal(info)
				os.WriteFile(path, b, 0o600)
			}()
			ffs := withFaults(t)
			start := time.Now()
			got := holder(path)
			if got.ID != info.ID || got.Who != info.Who {
				t.Errorf("holder = %+v; want %+v", got, info)
			}
			if waited := time.Since(start); waited != 20*time.Millisecond {
				t.Errorf("holder took %v; want 20ms", waited)
			}
			if n := ffs.count("open", "reconcile.state.json.lock"); n != 2 {
				t.Errorf("holder read the lock %d times; want 2", n)
			}
		})
	})
	t.Run("never written", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json.lock")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			ffs := withFaults(t)
			start := time.Now()
			got := holder(path)
			if got.ID != "?" || !strings.Contains(got.Operation, "no lock info recorded") || got.Path != path {
				t.Errorf("holder = %+v; want an unknown holder", got)
			}
			if waited := time.Since(start); waited != 20*time.Millisecond {
				t.Errorf("holder took %v; want one 20ms pause", waited)
			}
			if n := ffs.count("open", "reconcile.state.json.lock"); n != 2 {
				t.Errorf("holder read the lock %d times; want 2", n)
			}
		})
	})
	t.Run("unreadable", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json.lock")
			ffs := withFaults(t, &fault{op: "open", name: "*.lock"})
			start := time.Now()
			if got := holder(path); got.ID != "?" {
				t.Errorf("holder = %+v; want an unknown holder", got)
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("holder waited %v for a lock file it cannot read", waited)
			}
			if n := ffs.count("open", "reconcile.state.json.lock"); n != 1 {
				t.Errorf("holder tried %d times; want 1", n)
			}
		})
	})
}

// TestReadLockInfo: what a lock file holds, read without following links.
func TestReadLockInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json.lock")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  \n")
	if _, ok, err := readLockInfo(path); ok || err != nil {
		t.Errorf("blank lock file: ok %v, %v; want no info", ok, err)
	}
	write(`{"id":"","who":"x"}`)
	if info, ok, err := readLockInfo(path); !ok || err != nil || info.ID != "?" || !strings.Contains(info.Operation, "unreadable lock info") {
		t.Errorf("info without an ID = %+v, %v, %v; want it shown as unreadable", info, ok, err)
	}
	write("garbage " + strings.Repeat("x", 100))
	if info, ok, _ := readLockInfo(path); !ok || info.ID != "?" || info.Path != path || len(info.Operation) > 100 {
		t.Errorf("garbage = %+v, %v; want it shown as unreadable, shortened", info, ok)
	}
	t.Run("read failure", func(t *testing.T) {
		withFaults(t, &fault{op: "read", name: "*.lock"})
		if _, _, err := readLockInfo(path); !errors.Is(err, errInjected) {
			t.Errorf("readLockInfo = %v; want the read failure", err)
		}
	})
	t.Run("symbolic link", func(t *testing.T) {
		link := filepath.Join(dir, "link.lock")
		os.Symlink(path, link)
		if _, _, err := readLockInfo(link); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("readLockInfo of a link = %v; want it not followed", err)
		}
	})
}

// TestForceUnlockFailures: every step of ForceUnlock that fails says so
// and clears nothing.
func TestForceUnlockFailures(t *testing.T) {
	stale := engine.LockInfo{ID: "0b8f8f8e-1111-4222-8333-944455556666", Who: "ana@laptop", Operation: "apply"}
	staleJSON, _ := json.Marshal(stale)
	tests := []struct {
		name  string
		info  []byte
		fault *fault
		want  string
	}{
		{"reading the info", staleJSON, &fault{op: "open", name: "*.lock", times: 1}, "force-unlock: injected fault"},
		{"opening to lock", staleJSON, &fault{op: "open", name: "*.lock", skip: 1}, "force-unlock: injected fault"},
		{"locking", staleJSON, &fault{op: "flock", name: "*.lock"}, "force-unlock: injected fault"},
		{"clearing", staleJSON, &fault{op: "truncate", name: "*.lock"}, "force-unlock: injected fault"},
		{"opening an empty lock", nil, &fault{op: "open", name: "*.lock", skip: 1}, "force-unlock: injected fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path+".lock", tt.info, 0o600); err != nil {
				t.Fatal(err)
			}
			ffs := withFaults(t, tt.fault)
			err := NewFile(path).ForceUnlock(t.Context(), stale.ID)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ForceUnlock = %v; want %q", err, tt.want)
			}
			if b, _ := os.ReadFile(path + ".lock"); string(b) != string(tt.info) {
				t.Errorf("lock file now holds %q", b)
			}
			ffs.assertAllClosed(t)
		})
	}
}

// TestForceUnlockWithoutInfo: a lock file with no info is not locked when
// nobody holds it, and being locked when a holder has not written its info
// yet.
func TestForceUnlockWithoutInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := NewFile(path).ForceUnlock(t.Context(), "x")
	if err == nil || !strings.Contains(err.Error(), "no lock with ID x: the state "+path+" is not locked") {
		t.Errorf("ForceUnlock of an unheld empty lock = %v", err)
	}
	// A holder that has locked and not yet written its info.
	fh, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	err = NewFile(path).ForceUnlock(t.Context(), "x")
	if err == nil || !strings.Contains(err.Error(), "is locked but its holder has not recorded who it is yet") {
		t.Errorf("ForceUnlock while held without info = %v", err)
	}
}

// TestWho: the lock's holder is the current user (even when $USER says
// otherwise) at this host.
func TestWho(t *testing.T) {
	u, err := user.Current()
	if err != nil || u.Username == "" {
		t.Skip("no current user:", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name:", err)
	}
	t.Setenv("USER", "someone-else")
	if got, want := who(), u.Username+"@"+host; got != want {
		t.Errorf("who() = %q, want %q", got, want)
	}
}

// TestLockRecordsTheHolder: the info a holder writes says who, what, since
// when and where, and is the whole file.
func TestLockRecordsTheHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "reconcile.state.json")
		if err := os.WriteFile(path+".lock", []byte(strings.Repeat("stale info ", 100)), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := NewFile(path).Lock(t.Context(), "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		info, ok, err := readLockInfo(path + ".lock")
		if !ok || err != nil {
			t.Fatalf("no info: %v", err)
		}
		if !info.Created.Equal(time.Now().UTC()) || info.Created.Location() != time.UTC || info.Path != path || info.Operation != "apply" || info.Who != who() {
			t.Errorf("info %+v", info)
		}
	})
}

// TestWhoFallsBack: without a user name the uid is named, and without a
// host name "unknown-host".
func TestWhoFallsBack(t *testing.T) {
	oldUser, oldHost := currentUser, hostname
	t.Cleanup(func() { currentUser, hostname = oldUser, oldHost })
	currentUser = func() (*user.User, error) { return nil, errInjected }
	hostname = func() (string, error) { return "", errInjected }
	t.Setenv("USER", "")
	if got, want := who(), fmt.Sprintf("uid %d@unknown-host", os.Getuid()); got != want {
		t.Errorf("who() = %q, want %q", got, want)
	}
	t.Setenv("USER", "ana")
	currentUser = func() (*user.User, error) { return &user.User{}, nil }
	hostname = func() (string, error) { return "", nil }
	if got, want := who(), "ana@unknown-host"; got != want {
		t.Errorf("who() = %q, want %q", got, want)
	}
}

// TestLockWithARelativePath: a state named relative to the working
// directory records its absolute path, and its stale temporary files are
// found in the working directory.
func TestLockWithARelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	stale := ".s.json.tmp-0123456789abcdef"
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile("s.json")
	l, err := f.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if info := lockInfoOf(t, f); info.Path != filepath.Join(dir, "s.json") {
		t.Errorf("info.Path = %q, want %q", info.Path, filepath.Join(dir, "s.json"))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s not removed: %v", stale, err)
	}
}
