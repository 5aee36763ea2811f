package state

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// lockHelperEnv makes the test binary a process that locks the state file
// it names, prints "locked" and waits for its stdin to close.
const lockHelperEnv = "RECONCILE_STATE_TEST_LOCK_HELPER"

func lockHelper(path string) {
	if _, err := NewFile(path).Lock(context.Background(), "helper", 0); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin) // until the test ends or kills us
}

// startHolder runs a lock helper for path and returns once it holds the lock.
func startHolder(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	return cmd
}

// lockInfoOf reads the info a holder recorded.
func lockInfoOf(t *testing.T, f *File) engine.LockInfo {
	t.Helper()
	info, ok, err := readLockInfo(f.lockPath())
	if err != nil || !ok {
		t.Fatalf("no lock info: %v", err)
	}
	return info
}

func TestLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	a, b := NewFile(path), NewFile(path)
	l, err := a.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	held := lockInfoOf(t, a)
	if held.Operation != "apply" || held.PID != os.Getpid() || !strings.Contains(held.Who, "@") || held.Path != path || held.ID == "" || held.Created.IsZero() {
		t.Errorf("lock info %+v", held)
	}

	_, err = b.Lock(t.Context(), "plan", 0)
	var le *engine.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock = %v, want *engine.LockedError", err)
	}
	if le.Info != held || le.Waited != 0 {
		t.Errorf("LockedError = %+v, want the holder's info %+v, no wait", le, held)
	}
	if !strings.Contains(err.Error(), "run: reconcile force-unlock "+held.ID) {
		t.Errorf("message %q does not say how to force-unlock", err)
	}

	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock = %v", err)
	}
	if b, err := os.ReadFile(path + ".lock"); err != nil || len(b) != 0 {
		t.Errorf("after Unlock, lock file holds %q, %v; want it empty and present", b, err)
	}
	l2, err := b.Lock(t.Context(), "plan", 0)
	if err != nil {
		t.Fatalf("Lock after Unlock = %v", err)
	}
	l2.Unlock()
}

// TestLockTimeout waits in a synctest bubble: the file locks work there and
// the clock is fake, so the test never sleeps.
func TestLockTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		l, err := NewFile(path).Lock(t.Context(), "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()

		start := time.Now()
		_, err = NewFile(path).Lock(t.Context(), "plan", 5*time.Second)
		var le *engine.LockedError
		if !errors.As(err, &le) || le.Waited != 5*time.Second || le.Info.Operation != "apply" {
			t.Fatalf("Lock = %v, want a LockedError after waiting 5s", err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Lock gave up after %v, want 5s", waited)
		}
		if !strings.Contains(err.Error(), "(waited 5s)") {
			t.Errorf("message %q does not say how long it waited", err)
		}
	})
}

func TestLockWaitsForRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		l, err := NewFile(path).Lock(t.Context(), "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(2 * time.Second)
			l.Unlock()
		}()
		start := time.Now()
		l2, err := NewFile(path).Lock(t.Context(), "plan", time.Minute)
		if err != nil {
			t.Fatalf("Lock = %v, want the lock once released", err)
		}
		defer l2.Unlock()
		// Retries after 0.1, 0.3, 0.7, 1.5 and 2.5 s: the last one wins.
		if waited := time.Since(start); waited != 2500*time.Millisecond {
			t.Errorf("Lock took %v, want 2.5s", waited)
		}
	})
}

func TestLockWaitCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		l, err := NewFile(path).Lock(t.Context(), "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = NewFile(path).Lock(ctx, "plan", time.Hour)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `for "apply"`) {
			t.Fatalf("Lock = %v, want the context's error naming the holder", err)
		}
	})
}

// TestLockDiesWithProcess: a process killed with SIGKILL leaves no lock,
// only its info, which ForceUnlock clears and the next Lock overwrites.
func TestLockDiesWithProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	f := NewFile(path)
	cmd := startHolder(t, path)

	_, err := f.Lock(t.Context(), "plan", 0)
	var le *engine.LockedError
	if !errors.As(err, &le) || le.Info.PID != cmd.Process.Pid || le.Info.Operation != "helper" {
		t.Fatalf("Lock while the helper holds it = %v, want a LockedError naming PID %d", err, cmd.Process.Pid)
	}
	if err := f.ForceUnlock(t.Context(), le.Info.ID); err == nil || !strings.Contains(err.Error(), "held by a live process") {
		t.Errorf("ForceUnlock of a live holder = %v, want a refusal", err)
	}

	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if info := lockInfoOf(t, f); info.ID != le.Info.ID {
		t.Errorf("stale info %+v, want the dead holder's", info)
	}
	l, err := f.Lock(t.Context(), "plan", 0)
	if err != nil {
		t.Fatalf("Lock after the holder was killed = %v, want it at once", err)
	}
	if info := lockInfoOf(t, f); info.Operation != "plan" || info.PID != os.Getpid() {
		t.Errorf("info %+v, want ours", info)
	}
	l.Unlock()
}

func TestForceUnlock(t *testing.T) {
	stale := engine.LockInfo{ID: "0b8f8f8e-1111-4222-8333-944455556666", Who: "ana@laptop", Operation: "apply", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), PID: 999999}
	staleJSON, _ := json.Marshal(stale)

	t.Run("stale info", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		f := NewFile(path)
		if err := os.WriteFile(f.lockPath(), staleJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		err := f.ForceUnlock(t.Context(), "other-id")
		want := "force-unlock: no lock with ID other-id (current lock: ID 0b8f8f8e-1111-4222-8333-944455556666, held by ana@laptop for \"apply\" since 2025-01-02T03:04:05Z)"
		if err == nil || err.Error() != want {
			t.Errorf("ForceUnlock(other id) = %v\nwant %s", err, want)
		}
		if err := f.ForceUnlock(t.Context(), stale.ID); err != nil {
			t.Fatalf("ForceUnlock = %v", err)
		}
		if b, err := os.ReadFile(f.lockPath()); err != nil || len(b) != 0 {
			t.Errorf("lock file holds %q, %v; want it empty", b, err)
		}
	})

	t.Run("live holder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		f := NewFile(path)
		l, err := f.Lock(t.Context(), "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		id := lockInfoOf(t, f).ID
		err = NewFile(path).ForceUnlock(t.Context(), id)
		if err == nil || !strings.Contains(err.Error(), "is held by a live process") || !strings.Contains(err.Error(), "releases it as soon as that process ends") {
			t.Errorf("ForceUnlock = %v, want a refusal explaining the OS lock", err)
		}
		if _, err := NewFile(path).Lock(t.Context(), "plan", 0); err == nil {
			t.Errorf("lock released by a refused ForceUnlock")
		}
	})

	t.Run("not locked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		err := NewFile(path).ForceUnlock(t.Context(), "x")
		if err == nil || !strings.Contains(err.Error(), "no lock with ID x: the state "+path+" is not locked") {
			t.Errorf("ForceUnlock = %v", err)
		}
		if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
			t.Errorf("ForceUnlock created the lock file")
		}
	})
}
