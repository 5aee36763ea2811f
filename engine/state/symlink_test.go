package state

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

// assertLockedOut fails unless b's Lock fails as held.
func assertLockedOut(t *testing.T, b *File) {
	t.Helper()
	l, err := b.Lock(t.Context(), "plan", 0)
	var le *engine.LockedError
	if !errors.As(err, &le) {
		if l != nil {
			l.Unlock()
		}
		t.Fatalf("Lock of %s = %v while the same state is locked; want *engine.LockedError", b, err)
	}
}

// assertSymlink fails unless link is still a symbolic link to target.
func assertSymlink(t *testing.T, link, target string) {
	t.Helper()
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symbolic link: %v, %v", link, fi, err)
	}
	if got, _ := os.Readlink(link); got != target {
		t.Errorf("%s leads to %s, want %s", link, got, target)
	}
}

// TestStateThroughSymlinkIsLockedOnce: the same state reached by its name
// and through a link is one lock, whichever name locks first (issue 12,
// item 5: both applies ran).
func TestStateThroughSymlinkIsLockedOnce(t *testing.T) {
	for _, linkFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "link first", false: "file first"}[linkFirst], func(t *testing.T) {
			dir := t.TempDir()
			real, link := filepath.Join(dir, "s.json"), filepath.Join(dir, "link.json")
			if err := NewFile(real).Save(t.Context(), tricky()); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("s.json", link); err != nil {
				t.Fatal(err)
			}
			a, b := NewFile(link), NewFile(real)
			if !linkFirst {
				a, b = b, a
			}
			l, err := a.Lock(t.Context(), "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			assertLockedOut(t, b)
			if _, err := os.Lstat(link + ".lock"); !os.IsNotExist(err) {
				t.Errorf("a lock file beside the link: %v", err)
			}
		})
	}
}

// TestSaveThroughSymlinkKeepsTheLink: a save through a link writes the
// file it leads to, with its backup beside it, and leaves the link a link.
func TestSaveThroughSymlinkKeepsTheLink(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "s.json"), filepath.Join(dir, "link.json")
	if err := NewFile(real).Save(t.Context(), tricky()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(real)
	if err := os.Symlink("s.json", link); err != nil {
		t.Fatal(err)
	}
	f := NewFile(link)
	s, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Resources["tomticket/new"] = &engine.Entry{Provider: "tomticket", ID: "new"}
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	assertSymlink(t, link, "s.json")
	got, err := NewFile(real).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 2 || got.Resources["tomticket/new"] == nil {
		t.Errorf("%s holds serial %d, %d addresses; want the saved state (serial 2, with tomticket/new)", real, got.Serial, len(got.Resources))
	}
	if b, err := os.ReadFile(real + ".backup"); err != nil || string(b) != string(before) {
		t.Errorf("%s.backup = %q, %v; want the previous state", real, b, err)
	}
	for _, suffix := range []string{".backup", ".lock", ".journal"} {
		if _, err := os.Lstat(link + suffix); !os.IsNotExist(err) {
			t.Errorf("link.json%s exists: %v", suffix, err)
		}
	}
}

// TestSymlinkToMissingStateCreatesItAtTheTarget: a link whose target does
// not exist yet is followed: the first save, the lock and the journal are
// made at the target, and the link stays.
func TestSymlinkToMissingStateCreatesItAtTheTarget(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	real, link := filepath.Join(dir, "data", "s.json"), filepath.Join(dir, "link.json")
	if err := os.Symlink(filepath.Join("data", "s.json"), link); err != nil {
		t.Fatal(err)
	}
	f := NewFile(link)
	l, err := f.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	assertLockedOut(t, NewFile(real))
	s, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	rec := engine.Record{Address: "tomticket/1", Set: engine.Fields{{Name: "name", Value: engine.String("Um")}}}
	if err := j.Record(rec); err != nil {
		t.Fatal(err)
	}
	s.ApplyRecord(rec)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(real + ".journal"); err != nil {
		t.Errorf("no journal at the target: %v", err)
	}
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	assertSymlink(t, link, filepath.Join("data", "s.json"))
	got, err := NewFile(real).Load(t.Context())
	if err != nil || got.Resources["tomticket/1"] == nil {
		t.Fatalf("target holds %v, %v; want the saved state", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("beside the link: %v; want only link.json and data", ents)
	}
}

// TestSymlinkChainAndLinkedDirectory: links to links are followed to the
// end, and a relative target with .. is read from the directory a linked
// folder leads to, as the kernel does.
func TestSymlinkChainAndLinkedDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "a/sub"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	real := filepath.Join(dir, "a", "s.json")
	if err := NewFile(real).Save(t.Context(), tricky()); err != nil {
		t.Fatal(err)
	}
	// dir/b -> a/sub; dir/b/up.json -> ../s.json is dir/a/s.json, not dir/s.json.
	if err := os.Symlink(filepath.Join("a", "sub"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "s.json"), filepath.Join(dir, "a", "sub", "up.json")); err != nil {
		t.Fatal(err)
	}
	// dir/chain.json -> dir/b/up.json (absolute), a link to a link.
	if err := os.Symlink(filepath.Join(dir, "b", "up.json"), filepath.Join(dir, "chain.json")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{filepath.Join(dir, "b", "up.json"), filepath.Join(dir, "chain.json")} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			l, err := NewFile(name).Lock(t.Context(), "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			assertLockedOut(t, NewFile(real))
		})
	}
}

// TestPlantedSymlinkLockIsRefused: a FILE.lock that is a symbolic link is
// never followed: its target keeps its content and Lock fails naming it
// (issue 12, item 6: the target was truncated).
func TestPlantedSymlinkLockIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	victim := filepath.Join(dir, "precious.txt")
	const content = "do not truncate me\n"
	if err := os.WriteFile(victim, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path+".lock"); err != nil {
		t.Fatal(err)
	}
	l, err := NewFile(path).Lock(t.Context(), "apply", 0)
	if err == nil {
		l.Unlock()
	}
	if err == nil || !strings.Contains(err.Error(), path+".lock is a symbolic link") {
		t.Errorf("Lock = %v; want a refusal naming %s.lock as a symbolic link", err, path)
	}
	if b, _ := os.ReadFile(victim); string(b) != content {
		t.Errorf("the link's target now holds %q, want %q", b, content)
	}
	if err := NewFile(path).ForceUnlock(t.Context(), "x"); err == nil || !strings.Contains(err.Error(), "force-unlock") {
		t.Errorf("ForceUnlock = %v, want an error", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != content {
		t.Errorf("after ForceUnlock the link's target holds %q, want %q", b, content)
	}
}

// TestLockRefusesALockFileThatIsNotARegularFile: a directory or a FIFO
// planted as FILE.lock is refused, and Lock does not hang on the FIFO.
func TestLockRefusesALockFileThatIsNotARegularFile(t *testing.T) {
	for _, kind := range []string{"directory", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			var err error
			if kind == "directory" {
				err = os.Mkdir(path+".lock", 0o700)
			} else {
				err = mkfifo(path + ".lock")
			}
			if err != nil {
				t.Fatal(err)
			}
			ffs := withFaults(t)
			l, err := NewFile(path).Lock(t.Context(), "apply", 0)
			if err == nil {
				l.Unlock()
			}
			if err == nil || !strings.Contains(err.Error(), path+".lock") {
				t.Errorf("Lock = %v; want a refusal naming %s.lock", err, path)
			}
			ffs.assertAllClosed(t)
		})
	}
}

// TestLockRemovesStaleTemporaryFiles: the temporary files of saves killed
// midway are removed once the lock is held, and only then; other files
// beside the state stay (issue 12, item 7: 11–12 copies after 35 kills).
func TestLockRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	s := tricky()
	for range 2 {
		if err := NewFile(path).Save(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	// What saves killed midway leave (TestSaveTemporaryNamesAreTheOnesLockRemoves
	// checks that saves use these names), and files that are not theirs.
	stale := []string{".s.json.tmp-0123456789abcdef", ".s.json.backup.tmp-fedcba9876543210"}
	keep := []string{"s.json", "s.json.backup", "s.json.lock", ".s.json.tmp-notours", ".other.json.tmp-0123456789abcdef", "s.json.tmp-0123456789abcdef"}
	for _, name := range append(slices.Clone(stale), keep[3:]...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial state"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewFile(path).Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, name := range stale {
		if slices.Contains(names, name) {
			t.Errorf("%s still there after Lock", name)
		}
	}
	for _, name := range keep {
		if !slices.Contains(names, name) {
			t.Errorf("%s was removed", name)
		}
	}
}

// TestStaleTemporaryFilesStayWhileAnotherHolds: a Lock that finds the
// state locked removes nothing: the holder may be writing its temporary
// file.
func TestStaleTemporaryFilesStayWhileAnotherHolds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	l, err := NewFile(path).Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	tmp := filepath.Join(dir, ".s.json.tmp-0123456789abcdef")
	if err := os.WriteFile(tmp, []byte("being written"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertLockedOut(t, NewFile(path))
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("the holder's temporary file was removed by a refused Lock: %v", err)
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
