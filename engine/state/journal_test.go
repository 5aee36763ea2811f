package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

func rec(addr, name string) engine.Record {
	return engine.Record{Address: addr, Set: engine.Fields{{Name: "name", Value: engine.String(name)}}}
}

// openJournal opens a journal against an empty state of testLineage.
func openJournal(t *testing.T, path string) (*File, *engine.State, engine.Journal) {
	t.Helper()
	f := NewFile(path)
	s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
	j, err := f.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	return f, s, j
}

// TestJournalRecordFailsAfterAnEarlierWriteFailed: once a write has
// failed, every later record fails too, with that error, and writes
// nothing: a record silently dropped would be a call sent and forgotten.
func TestJournalRecordFailsAfterAnEarlierWriteFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	ffs := withFaults(t, &fault{op: "write", name: "*.journal", skip: 2, times: 1}) // the header, the first record
	_, _, j := openJournal(t, path)
	if err := j.Record(rec("tomticket/1", "Um")); err != nil {
		t.Fatal(err)
	}
	err := j.Record(rec("tomticket/2", "Dois"))
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "writing the state journal") {
		t.Fatalf("Record = %v; want the write's failure", err)
	}
	for _, r := range []engine.Record{rec("tomticket/3", "Três"), rec("tomticket/4", "Quatro")} {
		if err := j.Record(r); !errors.Is(err, errInjected) {
			t.Errorf("Record after a failed write = %v; want the same failure", err)
		}
	}
	if err := j.Close(); !errors.Is(err, errInjected) {
		t.Errorf("Close = %v; want the failure", err)
	}
	b, _ := os.ReadFile(path + ".journal")
	if lines := strings.Count(string(b), "\n"); lines != 2 || strings.Contains(string(b), "Quatro") {
		t.Errorf("journal holds %q; want the header and the first record only", b)
	}
	ffs.assertAllClosed(t)
}

// TestJournalSyncFailureFailsTheNextRecord: a failed periodic fsync (the
// records since may be lost in a power failure) fails the next record and
// Close.
func TestJournalSyncFailureFailsTheNextRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		withFaults(t, &fault{op: "sync", name: "*.journal", skip: 1}) // the header's sync passes
		_, _, j := openJournal(t, path)
		if err := j.Record(rec("tomticket/1", "Um")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(JournalSyncInterval)
		synctest.Wait()
		err := j.Record(rec("tomticket/2", "Dois"))
		if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "syncing the state journal") {
			t.Errorf("Record after a failed sync = %v; want the sync's failure", err)
		}
		if err := j.Close(); !errors.Is(err, errInjected) {
			t.Errorf("Close = %v; want the failure", err)
		}
	})
}

// TestJournalSyncsOnlyWhatWasWritten: the journal is synced once per
// interval in which a record arrived, and once more on Close.
func TestJournalSyncsOnlyWhatWasWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		ffs := withFaults(t)
		_, _, j := openJournal(t, path)
		syncs := func() int { return ffs.count("sync", "reconcile.state.json.journal") - 1 } // less the header's
		time.Sleep(3 * JournalSyncInterval)
		synctest.Wait()
		if n := syncs(); n != 0 {
			t.Errorf("%d syncs with no record; want 0", n)
		}
		if err := j.Record(rec("tomticket/1", "Um")); err != nil {
			t.Fatal(err)
		}
		if err := j.Record(rec("tomticket/2", "Dois")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(JournalSyncInterval)
		synctest.Wait()
		if n := syncs(); n != 1 {
			t.Errorf("%d syncs after records in one interval; want 1", n)
		}
		time.Sleep(3 * JournalSyncInterval)
		synctest.Wait()
		if n := syncs(); n != 1 {
			t.Errorf("%d syncs after quiet intervals; want still 1", n)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if n := syncs(); n != 2 {
			t.Errorf("%d syncs after Close; want 2", n)
		}
		ffs.assertAllClosed(t)
	})
}

// TestJournalCloseReportsSyncAndCloseFailures: the final sync and close
// are checked.
func TestJournalCloseReportsSyncAndCloseFailures(t *testing.T) {
	for _, op := range []string{"sync", "close"} {
		t.Run(op, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			skip := 0
			if op == "sync" {
				skip = 1 // the header's
			}
			withFaults(t, &fault{op: op, name: "*.journal", skip: skip})
			_, _, j := openJournal(t, path)
			if err := j.Close(); !errors.Is(err, errInjected) {
				t.Errorf("Close = %v; want the %s failure", err, op)
			}
		})
	}
}

// TestOpenJournalFailuresLeaveNoJournal: a journal that cannot be created,
// written, synced or made durable in its directory is an error, and leaves
// nothing that would block the next apply.
func TestOpenJournalFailuresLeaveNoJournal(t *testing.T) {
	tests := []struct {
		name  string
		fault func(dir string) *fault
		want  string
	}{
		{"create", func(string) *fault { return &fault{op: "open", name: "*.journal"} }, "opening the state journal: injected fault"},
		{"write", func(string) *fault { return &fault{op: "write", name: "*.journal"} }, "writing the state journal"},
		{"sync", func(string) *fault { return &fault{op: "sync", name: "*.journal"} }, "writing the state journal"},
		{"sync the directory", func(dir string) *fault { return &fault{op: "sync", name: dir} }, "writing the state journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			ffs := withFaults(t, tt.fault(filepath.Dir(path)))
			s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
			j, err := NewFile(path).OpenJournal(t.Context(), s)
			if j != nil || !errors.Is(err, errInjected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenJournal = %v, %v; want no journal and %q", j, err, tt.want)
			}
			if _, err := os.Lstat(path + ".journal"); !os.IsNotExist(err) {
				t.Errorf("a journal is left: %v", err)
			}
			ffs.assertAllClosed(t)
		})
	}
}

// TestOpenJournalRefusesAnEarlierJournal: a journal left by an apply that
// did not save, even a dangling link, is never overwritten.
func TestOpenJournalRefusesAnEarlierJournal(t *testing.T) {
	for _, kind := range []string{"file", "dangling link"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			var err error
			if kind == "file" {
				err = os.WriteFile(path+".journal", []byte("earlier\n"), 0o600)
			} else {
				err = os.Symlink("nowhere", path+".journal")
			}
			if err != nil {
				t.Fatal(err)
			}
			s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
			_, err = NewFile(path).OpenJournal(t.Context(), s)
			if err == nil || !strings.Contains(err.Error(), "a journal from an earlier apply is still there") {
				t.Errorf("OpenJournal = %v; want a refusal", err)
			}
			if b, _ := os.ReadFile(path + ".journal"); kind == "file" && string(b) != "earlier\n" {
				t.Errorf("journal now holds %q", b)
			}
		})
	}
}

// TestReplayKeepsAForeignJournalOutOfTheState: a journal that is not a
// reconcile journal of this version, belongs to another lineage, or holds
// a record the state cannot hold, makes Load fail naming the journal line;
// nothing of it reaches the state.
func TestReplayKeepsAForeignJournalOutOfTheState(t *testing.T) {
	const other = "0e5d3bb8-3f7e-4b8e-9c43-5d7b7f7f0a11"
	head := `{"journal_version":"1","lineage":"` + testLineage + `"}` + "\n"
	good := `{"address":"tomticket/1","set":{"name":"Um"}}` + "\n"
	tests := []struct {
		name, journal, want string
	}{
		{"not JSON", "hello\n" + good, "journal:1: not a reconcile journal of version 1"},
		{"another version", `{"journal_version":"2","lineage":"` + testLineage + `"}` + "\n" + good, "journal:1: not a reconcile journal of version 1"},
		{"no version", `{"lineage":"` + testLineage + `"}` + "\n" + good, "journal:1: not a reconcile journal of version 1"},
		{"another lineage", `{"journal_version":"1","lineage":"` + other + `"}` + "\n" + good, "journal:1: journal of lineage " + other + " beside a state of lineage " + testLineage},
		{"unreadable record before the last", head + "{torn\n" + good, "journal:2: unreadable record"},
		{"record without an address", head + `{"set":{"name":"x"}}` + "\n" + good, "journal:2: unreadable record"},
		{"unknown provider", head + good + `{"address":"hubspot/1","set":{"name":"x"}}` + "\n", `journal:3: record for an invalid address "hubspot/1"`},
		{"no provider", head + `{"address":"nothing","set":{"name":"x"}}` + "\n" + good, `journal:2: record for an invalid address "nothing"`},
		{"line too long", head + `{"address":"tomticket/1","set":{"name":"` + strings.Repeat("x", MaxLineBytes) + `"}}` + "\n", "journal:2: unreadable record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := NewFile(path).Save(t.Context(), &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".journal", []byte(tt.journal), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := NewFile(path, registry.Default().Names()...).Load(t.Context())
			if s != nil || !errors.Is(err, engine.ErrStateCorrupt) || !strings.Contains(err.Error(), path+"."+tt.want) {
				t.Errorf("Load = %v, %v; want an error containing %q", s, err, path+"."+tt.want)
			}
		})
	}
}

// TestReplayIgnoresOnlyATornLastLine: a last line cut short by a crash is
// ignored, with every record before it folded in.
func TestReplayIgnoresOnlyATornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	journal := `{"journal_version":"1","lineage":"` + testLineage + `"}` + "\n" +
		`{"address":"tomticket/1","set":{"name":"Um"}}` + "\n" +
		`{"address":"tomticket/2","set":{"name":"Do`
	if err := os.WriteFile(path+".journal", []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile(path)
	f.realPath()
	s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
	if err := f.replayJournal(s); err != nil {
		t.Fatal(err)
	}
	want := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
	want.ApplyRecord(rec("tomticket/1", "Um"))
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("replay (-want +got):\n%s", diff)
	}
}

// TestLoadOfAMissingStateTakesTheJournalsLineage: a first apply that never
// saved left a journal: Load returns a state of the journal's lineage with
// its records, while a journal whose header is unusable gives no lineage
// and is refused.
func TestLoadOfAMissingStateTakesTheJournalsLineage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	_, _, j := openJournal(t, path)
	if err := j.Record(rec("tomticket/1", "Um")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	s, err := NewFile(path).Load(t.Context())
	if err != nil || s.Lineage != testLineage || s.Resources["tomticket/1"] == nil {
		t.Fatalf("Load = %+v, %v; want lineage %s with tomticket/1", s, err, testLineage)
	}
	for _, header := range []string{`{"journal_version":"1","lineage":"not-a-uuid"}`, `not json`} {
		if err := os.WriteFile(path+".journal", []byte(header+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := NewFile(path).Load(t.Context()); !errors.Is(err, engine.ErrStateCorrupt) {
			t.Errorf("Load with journal header %s = %+v, %v; want it refused", header, s, err)
		}
	}
}

// TestReplayReadsRecordsLongerThanAScannerLine: a record past bufio's
// default 64 KiB line (a long note in a field) is folded in, not refused.
func TestReplayReadsRecordsLongerThanAScannerLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	_, s, j := openJournal(t, path)
	long := rec("tomticket/1", strings.Repeat("x", 100<<10))
	if err := j.Record(long); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	s.ApplyRecord(long)
	got, err := NewFile(path).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}
