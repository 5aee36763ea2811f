package state

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

// savedTwice returns a state file saved twice (so with a backup), its path
// and its bytes, and the state as last saved.
func savedTwice(t *testing.T) (string, []byte, *engine.State) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	s := tricky()
	for range 2 {
		if err := NewFile(path).Save(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b, s
}

// dirNames returns the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

const (
	stateTemp  = ".reconcile.state.json.tmp-*"
	backupTemp = ".reconcile.state.json.backup.tmp-*"
)

// TestSaveFailureLeavesTheStateAsItWas: whichever step of a save fails
// before the rename, Save returns that error, FILE and FILE.backup keep
// their bytes (FILE.backup may have become a copy of FILE), the serial is restored, no temporary file is left and no
// file is left open.
func TestSaveFailureLeavesTheStateAsItWas(t *testing.T) {
	tests := []struct {
		name   string
		faults []*fault
		want   string
	}{
		{"reading the file to check it", []*fault{{op: "open", name: "reconcile.state.json"}}, "saving state: injected fault"},
		{"stat of the file to check it", []*fault{{op: "stat", name: "reconcile.state.json"}}, "saving state: injected fault"},
		{"reading its header", []*fault{{op: "read", name: "reconcile.state.json"}}, "injected fault"},
		{"seeking back to read it in full", []*fault{{op: "seek", name: "reconcile.state.json"}}, "saving state: injected fault"},
		{"reading it in full", []*fault{{op: "read", name: "reconcile.state.json", skip: 2}}, "saving state: reading state PATH: injected fault"},
		{"creating the temporary file", []*fault{{op: "open", name: stateTemp}}, "saving state " + "PATH: injected fault"},
		{"writing the temporary file", []*fault{{op: "write", name: stateTemp}}, "saving state PATH: injected fault"},
		{"stat of the temporary file", []*fault{{op: "stat", name: stateTemp}}, "saving state PATH: injected fault"},
		{"linking the backup", []*fault{{op: "link", name: "reconcile.state.json", err: fs.ErrNotExist}}, "keeping the previous version as PATH.backup: file does not exist"},
		{"renaming the backup", []*fault{{op: "rename", name: backupTemp}}, "keeping the previous version as PATH.backup: injected fault"},
		{"copying the backup: opening the state", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "open", name: "reconcile.state.json", skip: 1}}, "keeping the previous version"},
		{"copying the backup: creating its temporary file", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "open", name: backupTemp}}, "keeping the previous version"},
		{"copying the backup: writing it", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "write", name: backupTemp}}, "keeping the previous version"},
		{"copying the backup: syncing it", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "sync", name: backupTemp}}, "keeping the previous version"},
		{"copying the backup: closing it", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "close", name: backupTemp}}, "keeping the previous version"},
		{"copying the backup: renaming it", []*fault{{op: "link", name: "reconcile.state.json"}, {op: "rename", name: backupTemp}}, "keeping the previous version"},
		{"syncing the temporary file", []*fault{{op: "sync", name: stateTemp}}, "saving state PATH: injected fault"},
		{"closing the temporary file", []*fault{{op: "close", name: stateTemp}}, "saving state PATH: injected fault"},
		{"renaming the temporary file", []*fault{{op: "rename", name: stateTemp}}, "saving state PATH: injected fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, before, s := savedTwice(t)
			backup, _ := os.ReadFile(path + ".backup")
			serial := s.Serial
			ffs := withFaults(t, tt.faults...)
			err := NewFile(path).Save(t.Context(), s)
			want := strings.ReplaceAll(tt.want, "PATH", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Save = %v; want an error containing %q", err, want)
			}
			if s.Serial != serial {
				t.Errorf("serial %d after a failed save, want %d", s.Serial, serial)
			}
			if b, _ := os.ReadFile(path); string(b) != string(before) {
				t.Errorf("the state changed")
			}
			// Once the backup step is done, FILE.backup is FILE itself.
			if b, _ := os.ReadFile(path + ".backup"); string(b) != string(backup) && string(b) != string(before) {
				t.Errorf("the backup holds neither the previous backup nor the state")
			}
			if names := dirNames(t, filepath.Dir(path)); len(names) != 2 {
				t.Errorf("files beside the state: %v; want only the state and its backup", names)
			}
			ffs.assertAllClosed(t)
			for _, f := range tt.faults {
				if f.hits == 0 {
					t.Errorf("fault %+v never hit", f)
				}
			}
		})
	}
}

// TestSaveFailureAfterTheRenameSaysTheNewStateIsInPlace: once the new file
// is renamed into place, a failure to sync the directory or to remove the
// journal is reported as such, and the serial keeps its new value.
func TestSaveFailureAfterTheRenameSaysTheNewStateIsInPlace(t *testing.T) {
	tests := []struct {
		name  string
		fault func(dir string) *fault
		want  string
	}{
		{"opening the directory", func(dir string) *fault { return &fault{op: "open", name: dir} }, "syncing its directory failed"},
		{"syncing the directory", func(dir string) *fault { return &fault{op: "sync", name: dir} }, "syncing its directory failed"},
		{"removing the journal", func(string) *fault { return &fault{op: "remove", name: "reconcile.state.json.journal"} }, "removing the journal it includes failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _, s := savedTwice(t)
			f := NewFile(path)
			j, err := f.OpenJournal(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			j.Close()
			ffs := withFaults(t, tt.fault(filepath.Dir(path)))
			serial := s.Serial
			err = f.Save(t.Context(), s)
			if err == nil || !strings.Contains(err.Error(), "the new state is in place, but "+tt.want) || !errors.Is(err, errInjected) {
				t.Fatalf("Save = %v; want %q wrapping the fault", err, tt.want)
			}
			if s.Serial != serial+1 {
				t.Errorf("serial %d, want %d: the new state is in place", s.Serial, serial+1)
			}
			got, err := NewFile(path).Load(t.Context())
			if err != nil || got.Serial != serial+1 {
				t.Errorf("Load = serial %v, %v; want the new state, serial %d", got, err, serial+1)
			}
			ffs.assertAllClosed(t)
		})
	}
}

// TestSaveBacksUpByCopyWhereHardLinksFail: on a file system without hard
// links the previous version is copied to FILE.backup, mode 0600.
func TestSaveBacksUpByCopyWhereHardLinksFail(t *testing.T) {
	path, before, s := savedTwice(t)
	ffs := withFaults(t, &fault{op: "link", name: "reconcile.state.json", err: errors.New("operation not permitted")})
	if err := NewFile(path).Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path + ".backup"); err != nil || string(b) != string(before) {
		t.Errorf("backup = %q, %v; want the previous version", b, err)
	}
	if fi, err := os.Stat(path + ".backup"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup: %v, %v; want mode 0600", fi, err)
	}
	if names := dirNames(t, filepath.Dir(path)); len(names) != 2 {
		t.Errorf("files beside the state: %v", names)
	}
	ffs.assertAllClosed(t)
}

// TestSaveRetriesATakenTemporaryName: a temporary name that exists is
// drawn again; when every name is taken, Save says so.
func TestSaveRetriesATakenTemporaryName(t *testing.T) {
	path, _, s := savedTwice(t)
	withFaults(t, &fault{op: "open", name: stateTemp, times: 3, err: fs.ErrExist})
	if err := NewFile(path).Save(t.Context(), s); err != nil {
		t.Fatalf("Save = %v; want a fourth name drawn", err)
	}

	withFaults(t, &fault{op: "open", name: stateTemp, err: fs.ErrExist})
	if err := NewFile(path).Save(t.Context(), s); err == nil || !strings.Contains(err.Error(), "every name drawn is taken") {
		t.Fatalf("Save = %v; want every name taken", err)
	}
}

// TestSaveTemporaryNamesAreTheOnesLockRemoves: the temporary files a save
// writes (the state's and the backup's) match the pattern of stale ones
// that Lock removes, and nothing else a save writes does.
func TestSaveTemporaryNamesAreTheOnesLockRemoves(t *testing.T) {
	path, _, s := savedTwice(t)
	var seen []string
	ffs := withFaults(t, &fault{op: "link", name: "reconcile.state.json", err: errors.New("no hard links")})
	if err := NewFile(path).Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	for _, c := range ffs.calls {
		if name, ok := strings.CutPrefix(c, "open "); ok && strings.Contains(name, ".tmp-") {
			seen = append(seen, name)
		}
	}
	for _, c := range ffs.calls {
		if strings.HasPrefix(c, "remove ") && strings.Contains(c, ".tmp-") {
			t.Errorf("a successful save called %s: its temporary files were renamed into place", c)
		}
	}
	stale := tempNames("reconcile.state.json")
	if len(seen) != 2 || !stale.MatchString(seen[0]) || !stale.MatchString(seen[1]) || seen[0] == seen[1] {
		t.Errorf("temporary files %v; want two, for the backup and the state, matching %s", seen, stale)
	}
	for _, name := range []string{"reconcile.state.json", "reconcile.state.json.backup", "reconcile.state.json.journal", "reconcile.state.json.lock", ".reconcile.state.json.tmp-0123", ".x.tmp-0123456789abcdef"} {
		if stale.MatchString(name) {
			t.Errorf("%s would be removed as stale", name)
		}
	}
}

// TestLoadFailures: a state that cannot be opened, examined or read is an
// error naming the cause; a directory where the state should be is not a
// state.
func TestLoadFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault *fault
		want  string
	}{
		{"open", &fault{op: "open", name: "reconcile.state.json"}, "reading state: injected fault"},
		{"stat", &fault{op: "stat", name: "reconcile.state.json"}, "reading state: injected fault"},
		{"read", &fault{op: "read", name: "reconcile.state.json"}, "injected fault"},
		{"journal", &fault{op: "open", name: "reconcile.state.json.journal"}, "reading the state journal: injected fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _, _ := savedTwice(t)
			ffs := withFaults(t, tt.fault)
			_, err := NewFile(path).Load(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errInjected) {
				t.Errorf("Load = %v; want %q", err, tt.want)
			}
			ffs.assertAllClosed(t)
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := NewFile(path).Load(t.Context()); err == nil || !strings.Contains(err.Error(), "reading state "+path+": not a regular file") {
			t.Errorf("Load = %v; want not a regular file", err)
		}
		s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
		if err := NewFile(path).Save(t.Context(), s); err == nil || !strings.Contains(err.Error(), "saving state "+path+": not a regular file") {
			t.Errorf("Save = %v; want not a regular file", err)
		}
	})
}

// TestSaveNoState: Save of nil is an error, not a panic.
func TestSaveNoState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	if err := NewFile(path).Save(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "no state") {
		t.Errorf("Save(nil) = %v", err)
	}
}

// TestSaveChecksAFileItDidNotWriteInFull: a file changed behind this
// File's back since it last read it is read in full before it is
// replaced, so a corrupt body is refused even with a good header; the file
// this File wrote itself is not read again.
func TestSaveChecksAFileItDidNotWriteInFull(t *testing.T) {
	path, before, s := savedTwice(t)
	f := NewFile(path)
	if _, err := f.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	ffs := withFaults(t)
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if n := ffs.count("seek", "reconcile.state.json"); n != 0 {
		t.Errorf("Save read back a file this File had just read or written (%d seeks)", n)
	}
	// Another writer leaves a good header and a bad body.
	bad := strings.Replace(string(before), `"serial":2`, `"serial":3`, 1)
	bad = bad[:strings.Index(bad, "\n")+1] + "{not json}\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.Save(t.Context(), s)
	if !errors.Is(err, engine.ErrStateCorrupt) || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("Save over a corrupt body = %v; want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != bad {
		t.Errorf("the corrupt file was replaced")
	}
}

// TestFollowLinksGivesUpOnFailures: a link that cannot be read, a
// directory that cannot be resolved, or a loop leaves the path as given.
func TestFollowLinksGivesUpOnFailures(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("s.json", link); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"readlink", "evalsymlinks"} {
		t.Run(op, func(t *testing.T) {
			withFaults(t, &fault{op: op, name: "*"})
			if got := NewFile(link).lockPath(); got != link+".lock" {
				t.Errorf("lockPath = %s, want %s.lock", got, link)
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
		os.Symlink("b.json", a)
		os.Symlink("a.json", b)
		if got := NewFile(a).realPath(); got != a {
			t.Errorf("realPath = %s, want %s", got, a)
		}
		if _, err := NewFile(a).Load(t.Context()); err == nil {
			t.Errorf("Load of a link loop succeeded")
		}
	})
	t.Run("resolved once", func(t *testing.T) {
		f := NewFile(link)
		first := f.realPath()
		os.Remove(link)
		os.Symlink("other.json", link)
		if got := f.realPath(); got != first || !strings.HasSuffix(first, "s.json") {
			t.Errorf("realPath = %s then %s; want %s/s.json both times", first, got, dir)
		}
	})
}

// TestSaveAfterALoadFoundItCorruptReadsItAgain: a Load that fails forgets
// the file it read before, so a file corrupted in place (same inode, size
// and time) is read in full by the next Save and refused.
func TestSaveAfterALoadFoundItCorruptReadsItAgain(t *testing.T) {
	path, before, s := savedTwice(t)
	f := NewFile(path)
	if _, err := f.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	i := strings.Index(string(before), "\n") + 2
	bad := []byte(string(before[:i]) + "#" + string(before[i+1:])) // same size
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt(bad, 0)
	fh.Close()
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	if _, err := f.Load(t.Context()); !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("Load = %v, want corrupt", err)
	}
	if err := f.Save(t.Context(), s); !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("Save = %v; want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(bad) {
		t.Errorf("the corrupt file was replaced")
	}
}

// TestSaveOverAFileItDidNotReadFinishesWhenCancelled: the full check of a
// file this File never read runs even with a cancelled context.
func TestSaveOverAFileItDidNotReadFinishesWhenCancelled(t *testing.T) {
	path, _, s := savedTwice(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := NewFile(path).Save(ctx, s); err != nil {
		t.Fatalf("Save with a cancelled context = %v; want it to finish", err)
	}
}

// TestSaveRefusesAnEmptyOrHeaderlessFile: an empty file, or one whose
// first line is too long to be a header, is not replaced, and the refusal
// says what Load would say about it.
func TestSaveRefusesAnEmptyOrHeaderlessFile(t *testing.T) {
	for name, content := range map[string]string{
		"empty":           "",
		"long first line": strings.Repeat("x", maxHeaderBytes+1),
		"binary":          strings.Repeat("\x00\x01", maxHeaderBytes),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, lerr := NewFile(path).Load(t.Context())
			if lerr == nil {
				t.Fatal("Load succeeded")
			}
			s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
			err := NewFile(path).Save(t.Context(), s)
			if !errors.Is(err, engine.ErrStateCorrupt) || !strings.Contains(err.Error(), "refusing to replace") || !strings.HasSuffix(err.Error(), lerr.Error()) {
				t.Errorf("Save = %v; want a refusal ending in Load's %q", err, lerr)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("the file was replaced")
			}
		})
	}
}
