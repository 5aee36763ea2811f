package state

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/state/backendtest"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// TestScanReportsWhatLoadReports: every file Load refuses, Scan refuses with
// the same message; the one whose addresses are out of order it leaves to
// Load.
func TestScanReportsWhatLoadReports(t *testing.T) {
	cases := append(corruptCases(), struct{ name, file, want string }{
		"adjacent duplicate address",
		hdr + "3}\n" + `{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{"a":1}}` + "\n",
		`:4: address "bonifiq/2" appears twice`,
	})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			visited := 0
			_, err := NewFile(path, registry.Default().Names()...).Scan(t.Context(), func(b *engine.EntryBatch) error {
				visited += len(b.Recs)
				return nil
			})
			if tt.name == "duplicate address" { // bonifiq/1 after bonifiq/2
				if !errors.Is(err, engine.ErrScanUnavailable) {
					t.Fatalf("Scan = %v, want ErrScanUnavailable", err)
				}
				return
			}
			if !errors.Is(err, engine.ErrStateCorrupt) {
				t.Fatalf("Scan = %v, want an error wrapping ErrStateCorrupt", err)
			}
			if got, want := err.Error(), path+tt.want; !strings.HasPrefix(got, want) {
				t.Errorf("Scan error\n got: %s\nwant: %s...", got, want)
			}
		})
	}
}

// TestScanLeavesToLoadWhatItCannotStream: entries out of address order, and
// a journal to fold, make the scan step aside; a missing file is an empty
// state.
func TestScanLeavesToLoadWhatItCannotStream(t *testing.T) {
	dir := t.TempDir()
	visit := func(*engine.EntryBatch) error { return nil }
	unsorted := filepath.Join(dir, "unsorted.json")
	if err := os.WriteFile(unsorted, []byte(hdr+"2}\n"+`{"address":"tomticket/1","fields":{}}`+"\n"+`{"address":"bonifiq/1","fields":{}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(unsorted).Scan(t.Context(), visit); !errors.Is(err, engine.ErrScanUnavailable) {
		t.Errorf("unsorted: Scan = %v, want ErrScanUnavailable", err)
	}
	journaled := filepath.Join(dir, "journaled.json")
	if err := NewFile(journaled).Save(t.Context(), enginetest.State(3, 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journaled+".journal", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(journaled).Scan(t.Context(), visit); !errors.Is(err, engine.ErrScanUnavailable) {
		t.Errorf("journal: Scan = %v, want ErrScanUnavailable", err)
	}
	info, err := NewFile(filepath.Join(dir, "missing.json")).Scan(t.Context(), func(*engine.EntryBatch) error {
		t.Error("a missing state has no entries to visit")
		return nil
	})
	if err != nil || info.Entries != 0 || info.Serial != 0 || info.Lineage == "" {
		t.Errorf("missing: Scan = %+v, %v; want an empty state with a lineage", info, err)
	}
}

// bufScanner scans a state held in memory, lazily as a file is
// (engine.LazyScanner).
type bufScanner []byte

func (b bufScanner) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return ScanState(ctx, bytes.NewReader(b), "state", visit, registry.Default().Names()...)
}

func (b bufScanner) ScanLazy(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return scan(ctx, bytes.NewReader(b), "state", registry.Default().Names(), true, visit)
}

// TestPlanScanIsMakePlan: the plan merged with a state file as Scan streams
// it is the plan made against the state Load reads (backendtest.PlanScan),
// over states of several chunks.
func TestPlanScanIsMakePlan(t *testing.T) {
	backendtest.PlanScan(t, func(t *testing.T) func() engine.Backend {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		return func() engine.Backend { return NewFile(path, registry.Default().Names()...) }
	}, 12000)
}

// TestPlanOfUnchangedCustomersAllocatesLittle: merging 200,000 unchanged
// customers with their state allocates a small constant per customer on
// top of reading the state's lines: nothing is built for an address whose
// line matches the manifests.
func TestPlanOfUnchangedCustomersAllocatesLittle(t *testing.T) {
	reg := registry.Default()
	const n = 200_000
	d := backendtest.Customers(t, n)
	var buf bytes.Buffer
	if err := Write(&buf, enginetest.State(n, 0), reg.Names()...); err != nil {
		t.Fatal(err)
	}
	// What f allocates, bytes and objects: the least of three runs, as the
	// pool of read blocks is emptied by collections at random moments.
	allocs := func(f func()) (bytes, objects uint64) {
		bytes, objects = math.MaxUint64, math.MaxUint64
		for range 3 {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f()
			runtime.ReadMemStats(&after)
			bytes, objects = min(bytes, after.TotalAlloc-before.TotalAlloc), min(objects, after.Mallocs-before.Mallocs)
		}
		return bytes, objects
	}
	// The floor: reading every line as the plan's lazy scan does, visiting
	// none.
	floor, floorObjects := allocs(func() {
		if _, err := bufScanner(buf.Bytes()).ScanLazy(t.Context(), func(*engine.EntryBatch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	var p *engine.Plan
	plan, planObjects := allocs(func() {
		var err error
		if p, _, _, err = engine.MakePlanScan(t.Context(), d, bufScanner(buf.Bytes()), engine.PlanOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if p.Summary.NoOp != 2*n || p.Summary.Changes() != 0 {
		t.Fatalf("summary %+v, want %d unchanged", p.Summary, 2*n)
	}
	perCustomer := float64(plan-min(plan, floor)) / n
	objects := float64(planObjects-min(planObjects, floorObjects)) / n
	t.Logf("reading the lines: %d bytes (%.0f per customer), %d objects; the plan: %d bytes, %.1f per customer more, %.4f objects per customer more",
		floor, float64(floor)/n, floorObjects, plan, perCustomer, objects)
	// The plan sorts the customers by id (4 bytes each) and marks those the
	// state matched (8 bytes each): 12 bytes, and a few objects for each
	// batch of thousands of lines. The bytes vary by a few of the reader's
	// 1 MiB blocks, which the pool keeps or not (up to 24 bytes a customer
	// under -race): building anything for a customer costs an object each
	// (the object count is exact) and hundreds of bytes.
	if perCustomer > 64 {
		t.Errorf("the plan allocates %.1f bytes per unchanged customer beyond reading its line, want at most 64", perCustomer)
	}
	if objects > 0.01 {
		t.Errorf("the plan allocates %.4f objects per unchanged customer beyond reading its line, want at most 0.01", objects)
	}
}
