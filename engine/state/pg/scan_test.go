package pg

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/state/backendtest"
)

// scanAll scans b and returns its batches' entries in Seq order, checking
// that the batches are numbered from 0 without gaps and hold at most
// rowsPerBlock entries.
func scanAll(t *testing.T, b *Backend) (engine.ScanInfo, []*engine.Entry) {
	t.Helper()
	var (
		mu      sync.Mutex
		batches = map[int][]*engine.Entry{}
	)
	info, err := b.Scan(t.Context(), func(bt *engine.EntryBatch) error {
		es := make([]*engine.Entry, len(bt.Recs))
		for i := range bt.Recs {
			es[i] = bt.Entry(&bt.Recs[i])
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := batches[bt.Seq]; ok {
			t.Errorf("batch %d visited twice", bt.Seq)
		}
		if len(es) == 0 || len(es) > rowsPerBlock {
			t.Errorf("batch %d holds %d entries", bt.Seq, len(es))
		}
		batches[bt.Seq] = es
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	var all []*engine.Entry
	for seq := range len(batches) {
		es, ok := batches[seq]
		if !ok {
			t.Fatalf("batches %v: no batch %d", slices.Sorted(mapKeys(batches)), seq)
		}
		all = append(all, es...)
	}
	return info, all
}

func mapKeys[V any](m map[int]V) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestPostgresScanIsLoad: Scan visits every entry Load reads, in address
// order, in numbered batches, with the lineage and serial Load reads; a
// workspace not created yet is an empty state with a lineage.
func TestPostgresScanIsLoad(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	b := openTest(t, url, ws)
	info, all := scanAll(t, b)
	if info.Entries != 0 || info.Serial != 0 || !validLineage(info.Lineage) || len(all) != 0 {
		t.Fatalf("a new workspace: Scan = %+v, %d entries; want an empty state with a lineage", info, len(all))
	}

	s := enginetest.State(5000, 7)
	// Addresses whose byte order differs from other orders: upper and lower
	// case, non-ASCII, punctuation, a prefix of another.
	for _, id := range []string{"Zeta", "alpha", "Ärger", "a-b", "a_b", "a.b", "a", "ab", "é", "😀", "z~"} {
		e := &engine.Entry{Provider: "invisiblecollector", ID: id, Fields: engine.Fields{{Name: "name", Value: engine.String("x\ty \"q\" \\ é")}}}
		s.Resources[e.Address()] = e
	}
	s.Resources["bonifiq/absent"] = engine.AbsentEntry("bonifiq", "absent")
	if err := b.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	loaded, err := openTest(t, url, ws).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	info, all = scanAll(t, openTest(t, url, ws))
	if info.Lineage != loaded.Lineage || info.Serial != loaded.Serial || info.Entries != len(loaded.Resources) || len(all) != len(loaded.Resources) {
		t.Fatalf("Scan = %+v with %d entries; Load read %d entries of %s serial %d", info, len(all), len(loaded.Resources), loaded.Lineage, loaded.Serial)
	}
	if len(all) <= 2*rowsPerBlock {
		t.Fatalf("%d entries: want several batches", len(all))
	}
	for i, e := range all {
		if i > 0 && all[i-1].Address() >= e.Address() {
			t.Fatalf("entry %d: %s after %s: not in address order", i, e.Address(), all[i-1].Address())
		}
		if diff := cmp.Diff(loaded.Resources[e.Address()], e, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s (-load +scan):\n%s", e.Address(), diff)
		}
	}
}

// TestPostgresPlanScanIsMakePlan: the plan merged with the workspace as
// Scan streams it is the plan made against the state Load reads
// (backendtest.PlanScan, which the file backend passes too), over states
// of several batches.
func TestPostgresPlanScanIsMakePlan(t *testing.T) {
	url := testURL(t)
	backendtest.PlanScan(t, func(t *testing.T) func() engine.Backend {
		ws := freshWorkspace(t)
		return func() engine.Backend { return openTest(t, url, ws) }
	}, 6000)
}

// TestPostgresScanLeavesJournalToLoad: journal rows to fold make Scan
// step aside before visiting anything, so that the plan loads the state
// and folds them; once a save includes them, Scan streams again.
func TestPostgresScanLeavesJournalToLoad(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	b := openTest(t, url, ws)
	s := enginetest.State(10, 0)
	if err := b.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	j, err := b.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(engine.Record{Address: "bonifiq/new", Set: engine.Fields{{Name: "name", Value: engine.String("New")}}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	noVisit := func(*engine.EntryBatch) error {
		t.Error("Scan visited a state with a journal to fold")
		return nil
	}
	if _, err := openTest(t, url, ws).Scan(t.Context(), noVisit); !errors.Is(err, engine.ErrScanUnavailable) {
		t.Fatalf("Scan with a journal = %v, want ErrScanUnavailable", err)
	}
	// A journal without a saved state too.
	fresh := freshWorkspace(t)
	sql(t, url, `INSERT INTO reconcile_journal (workspace, lineage, record) VALUES ($1, $2, '{"address":"bonifiq/1","set":{}}')`, fresh, engine.NewLineage())
	if _, err := openTest(t, url, fresh).Scan(t.Context(), noVisit); !errors.Is(err, engine.ErrScanUnavailable) {
		t.Fatalf("Scan of a journal without a state = %v, want ErrScanUnavailable", err)
	}

	b2 := openTest(t, url, ws)
	loaded, err := b2.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Resources["bonifiq/new"] == nil {
		t.Fatal("Load did not fold the journal")
	}
	if err := b2.Save(t.Context(), loaded); err != nil {
		t.Fatal(err)
	}
	info, all := scanAll(t, openTest(t, url, ws))
	if info.Entries != 21 || len(all) != 21 || info.Serial != loaded.Serial {
		t.Fatalf("Scan after the save = %+v, %d entries; want the 21 saved at serial %d", info, len(all), loaded.Serial)
	}
}

// TestPostgresScanRefusesWhatLoadRefuses: every row, header or value that
// Load refuses, Scan refuses with the same message, wherever the row falls
// among the batches.
func TestPostgresScanRefusesWhatLoadRefuses(t *testing.T) {
	url := testURL(t)
	long := strings.Repeat("x", 16<<20)
	// Several batches, so that most bad rows fall in a later one than the
	// first; each case's workspace is a copy of this one.
	template := freshWorkspace(t)
	if err := openTest(t, url, template).Save(t.Context(), enginetest.State(2*rowsPerBlock, 0)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, stmt string
		args       []any
		want       string
	}{
		{"not an integer", `UPDATE reconcile_resources SET fields = '{"tier.id":1.5}' WHERE workspace = $1 AND address = 'tomticket/105000'`, nil, `row "tomticket/105000": field "tier.id": 1.5 is not an integer`},
		{"unknown provider", `INSERT INTO reconcile_resources VALUES ($1, 'hubspot/1', '{}', NULL, 'x')`, nil, `row "hubspot/1": unknown provider "hubspot"`},
		{"fields not JSON", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/2', 'not json', NULL, 'x')`, nil, `row "bonifiq/2": `},
		{"ids not an object", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/3', '{}', '[1]', 'x')`, nil, `row "bonifiq/3": `},
		{"field twice", `INSERT INTO reconcile_resources VALUES ($1, 'tomticket/4', '{"name":"a","name":"b"}', NULL, 'x')`, nil, `row "tomticket/4": field "name" appears twice`},
		{"not an address", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq', '{}', NULL, 'x')`, nil, `row "bonifiq": address "bonifiq" is not PROVIDER/ID`},
		{"no id", `INSERT INTO reconcile_resources VALUES ($1, 'tomticket/', '{}', NULL, 'x')`, nil, `row "tomticket/": address "tomticket/" is not PROVIDER/ID`},
		{"line break", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/5', E'{\n}', NULL, 'x')`, nil, `row "bonifiq/5": fields: invalid JSON`},
		{"line break after an object", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/6', E'{}}\n{"address":"bonifiq/7","fields":{}', NULL, 'x')`, nil, `row "bonifiq/6": a line break inside`},
		{"too long", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/8', $2, NULL, 'x')`, []any{`{"name":"` + long + `"}`}, `row "bonifiq/8": line longer than 16 MiB`},
		{"the last row", `INSERT INTO reconcile_resources VALUES ($1, 'tomticket/zzz', '{"a":[]}', NULL, 'x')`, nil, `row "tomticket/zzz": field "a": an array is not a state value`},
		// Updated rows move to the end of the table: the first in address
		// order is the last there.
		{"two bad rows", `UPDATE reconcile_resources SET fields = '{"b":1.5}' WHERE workspace = $1 AND address = 'tomticket/105000'`, nil, ""},
		{"lineage", `UPDATE reconcile_workspaces SET lineage = 'nope' WHERE name = $1`, nil, `lineage "nope" is not a UUID`},
		{"serial", `UPDATE reconcile_workspaces SET serial = -1 WHERE name = $1`, nil, `serial -1 is negative`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := freshWorkspace(t)
			sql(t, url, `INSERT INTO reconcile_workspaces (name, lineage, serial) SELECT $1, lineage, serial FROM reconcile_workspaces WHERE name = $2`, ws, template)
			sql(t, url, `INSERT INTO reconcile_resources SELECT $1, address, fields, ids, digest FROM reconcile_resources WHERE workspace = $2`, ws, template)
			sql(t, url, tt.stmt, append([]any{ws}, tt.args...)...)
			if tt.want == "" {
				sql(t, url, `UPDATE reconcile_resources SET fields = '{"a":1.5}' WHERE workspace = $1 AND address = 'bonifiq/100001'`, ws)
				tt.want = `row "bonifiq/100001": field "a": 1.5 is not an integer`
			}
			// Without the index, so that the server reads the table in
			// its own order, and sorts it when asked to.
			seq := url + "&enable_indexscan=off&enable_bitmapscan=off&max_parallel_workers_per_gather=0&synchronize_seqscans=off"
			_, lerr := openTest(t, seq, ws).Load(t.Context())
			visited := 0
			var mu sync.Mutex
			_, serr := openTest(t, seq, ws).Scan(t.Context(), func(bt *engine.EntryBatch) error {
				mu.Lock()
				visited += len(bt.Recs)
				mu.Unlock()
				return nil
			})
			for _, c := range []struct {
				name string
				err  error
			}{{"Load", lerr}, {"Scan", serr}} {
				var ce *CorruptError
				if !errors.As(c.err, &ce) || !errors.Is(c.err, engine.ErrStateCorrupt) {
					t.Fatalf("%s: %v; want a *CorruptError", c.name, c.err)
				}
				if !strings.Contains(c.err.Error(), tt.want) || !strings.Contains(c.err.Error(), ws) {
					t.Errorf("%s: %.300s; want it to name the workspace and contain %q", c.name, c.err, tt.want)
				}
			}
			if lerr.Error() != serr.Error() {
				t.Errorf("Load and Scan differ:\nLoad: %.300s\nScan: %.300s", lerr, serr)
			}
		})
	}
}

// TestPostgresScanStopsAtVisitError: a visit's error ends the scan and is
// what Scan returns.
func TestPostgresScanStopsAtVisitError(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	if err := openTest(t, url, ws).Save(t.Context(), enginetest.State(4*rowsPerBlock, 0)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	_, err := openTest(t, url, ws).Scan(t.Context(), func(bt *engine.EntryBatch) error {
		if bt.Seq == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Scan = %v, want the visit's error", err)
	}
}
