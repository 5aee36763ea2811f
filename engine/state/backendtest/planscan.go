package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/manifest"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// Customers loads n generated customers (enginetest.WriteCSV) through the
// manifest loader.
func Customers(t *testing.T, n int) *engine.Desired {
	t.Helper()
	csvPath := filepath.Join(t.TempDir(), "customers.csv")
	if err := enginetest.WriteCSV(csvPath, n); err != nil {
		t.Fatal(err)
	}
	d, diags := manifest.Load(registry.Default(), []string{csvPath})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return d
}

// PlanScan checks that the plan merged with a state as the backend streams
// it (engine.MakePlanScan) is the plan made against the state it loads
// (engine.MakePlan), change for change (digests, ids, fields, sources,
// calls), count for count, diagnostic for diagnostic, lazily built or not,
// over states of n customers, in several batches, with updates, creates
// (some lacking what the service needs), forgets, disables, absent
// entries, fields the manifests leave out, and targets.
func PlanScan(t *testing.T, store Store, n int) {
	reg := registry.Default()
	d := Customers(t, n)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			open := store(t)
			s := enginetest.State(n, 50)
			rnd := rand.New(rand.NewPCG(seed, 7))
			// In address order, so that a seed always makes the same state.
			for _, addr := range slices.Sorted(maps.Keys(s.Resources)) {
				e := s.Resources[addr]
				switch rnd.IntN(40) {
				case 0: // gone from the state: a create
					delete(s.Resources, addr)
				case 1: // a field the manifests leave out: no change
					e.Fields = e.Fields.Set("zz.unmanaged", engine.String("x"))
				case 2: // import found it missing
					s.Resources[addr] = engine.AbsentEntry(e.Provider, e.ID)
				case 3: // a different value
					e.Fields = e.Fields.Set("name", engine.String("Someone else"))
				case 4: // a value of the same length, one byte apart
					if v, ok := e.Fields.Get("name"); ok && v.S != "" {
						e.Fields = e.Fields.Set("name", engine.String(v.S[:len(v.S)-1]+"?"))
					}
				}
			}
			for i := range 300 { // gone from the manifests: forgets, or disables
				e := &engine.Entry{Provider: []string{"bonifiq", "tomticket", "invisiblecollector"}[i%3], ID: fmt.Sprintf("gone-%d", i),
					Fields: engine.Fields{{Name: "name", Value: engine.String("Gone")}}}
				s.Resources[e.Address()] = e
			}
			dd := *d
			// Some customers without a name: their creates are errors.
			dd.Customers = slices.Clone(d.Customers)
			for i := 5; i < len(dd.Customers); i += 997 {
				c := *dd.Customers[i]
				c.Fields = c.Fields.Clone().Delete("name")
				dd.Customers[i] = &c
				delete(s.Resources, "bonifiq/"+c.ID) // a create, not an update
			}
			if err := open().Save(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			loaded, err := open().Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			dd.Providers = maps.Clone(d.Providers)
			if seed%2 == 1 {
				cfg := dd.Providers["bonifiq"]
				cfg.OnRemove = engine.OnRemoveDisable
				dd.Providers["bonifiq"] = cfg
			}
			var targets []string
			if seed == 3 {
				targets = []string{"tomticket/1001*", "bonifiq/gone-*", "nothing/*"}
			}
			// The services' clients, offline, so that changes carry calls.
			provs := map[string]engine.Provider{}
			for _, svc := range reg.Services() {
				pr, err := svc.New(engine.ClientOptions{Config: dd.Providers[svc.Name], Getenv: func(string) string { return "" }})
				if err != nil {
					t.Fatal(err)
				}
				provs[svc.Name] = pr
			}
			opts := engine.PlanOptions{Targets: targets, Providers: provs}
			want, wantDiags := engine.MakePlan(&dd, loaded, opts)
			if want.Summary.Changes() == 0 || want.Summary.Create == 0 || want.Summary.Forget+want.Summary.Disable == 0 || want.Summary.Update == 0 {
				t.Fatalf("the case plans too little: %+v", want.Summary)
			}
			if targets == nil && wantDiags.Errors() == 0 {
				t.Fatal("the case has no diagnostics to compare")
			}
			scanner, ok := open().(engine.StateScanner)
			if !ok {
				t.Fatal("the backend does not stream its state")
			}
			// Every entry decoded as it is read, and, when the backend
			// offers it, only those whose lines differ (a lazy scan).
			scanners := map[string]engine.StateScanner{"scan": eagerScanner{scanner}}
			if lz, ok := scanner.(engine.LazyScanner); ok {
				scanners["lazy scan"] = lazyScanner{scanner, lz, new(atomic.Int64)}
			}
			for how, scanner := range scanners {
				counting := &countingScanner{StateScanner: scanner}
				got, gotDiags, info, err := engine.MakePlanScan(t.Context(), &dd, counting, opts)
				if err != nil {
					t.Fatal(err)
				}
				if counting.batches < 2 {
					t.Errorf("%s: the state came in %d batch(es): want several", how, counting.batches)
				}
				if lz, ok := scanner.(lazyScanner); ok {
					switch n := lz.decoded.Load(); {
					case n == 0:
						t.Errorf("%s: no entry was decoded: the changed ones are", how)
					case targets == nil && n > int64(len(loaded.Resources))/4:
						t.Errorf("%s: %d of %d entries decoded: the unchanged ones are not", how, n, len(loaded.Resources))
					}
				}
				if info.Entries != len(loaded.Resources) || info.Lineage != loaded.Lineage || info.Serial != loaded.Serial {
					t.Errorf("%s: scan info %+v, want %d entries of %s serial %d", how, info, len(loaded.Resources), loaded.Lineage, loaded.Serial)
				}
				if got.StateLineage != want.StateLineage || got.StateSerial != want.StateSerial {
					t.Errorf("%s: plan made against %s serial %d, want %s serial %d", how, got.StateLineage, got.StateSerial, want.StateLineage, want.StateSerial)
				}
				if diff := cmp.Diff(want.Summary, got.Summary); diff != "" {
					t.Errorf("summary (-load +%s):\n%s", how, diff)
				}
				if diff := cmp.Diff(want.Changes, got.Changes, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("changes (-load +%s):\n%s", how, diff)
				}
				if diff := cmp.Diff(wantDiags, gotDiags, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("diagnostics (-load +%s):\n%s", how, diff)
				}
				lazyPlan(t, &dd, scanner, opts, want, wantDiags)
			}
		})
	}
}

// eagerScanner is a backend's scan, every entry decoded as it is read:
// not a LazyScanner, whatever the backend.
type eagerScanner struct{ engine.StateScanner }

// lazyScanner is a backend's lazy scan, as its Scan, counting the entries
// the plan decodes.
type lazyScanner struct {
	engine.StateScanner
	lz      engine.LazyScanner
	decoded *atomic.Int64
}

func (l lazyScanner) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return l.lz.ScanLazy(ctx, func(b *engine.EntryBatch) error {
		err := visit(b)
		n := 0
		for i := range b.Recs {
			if !b.Recs[i].Lazy() {
				n++
			}
		}
		l.decoded.Add(int64(n))
		return err
	})
}

// countingScanner counts the batches a scan visits.
type countingScanner struct {
	engine.StateScanner
	mu      sync.Mutex
	batches int
}

func (c *countingScanner) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return c.StateScanner.Scan(ctx, func(b *engine.EntryBatch) error {
		c.mu.Lock()
		c.batches++
		c.mu.Unlock()
		return visit(b)
	})
}

// lazyPlan checks the lazy plan of the same state against want.
func lazyPlan(t *testing.T, d *engine.Desired, scanner engine.StateScanner, opts engine.PlanOptions, want *engine.Plan, wantDiags engine.Diagnostics) {
	t.Helper()
	opts.Lazy = true
	lazy, lazyDiags, _, err := engine.MakePlanScan(t.Context(), d, scanner, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !lazy.Lazy() || lazy.Changes != nil || lazy.Len() != len(want.Changes) {
		t.Fatalf("lazy plan: Lazy %v, %d changes built, Len %d; want lazy, none built, %d", lazy.Lazy(), len(lazy.Changes), lazy.Len(), len(want.Changes))
	}
	if diff := cmp.Diff(want.Summary, lazy.Summary); diff != "" {
		t.Errorf("lazy summary (-load +lazy):\n%s", diff)
	}
	if diff := cmp.Diff(wantDiags, lazyDiags, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("lazy diagnostics (-load +lazy):\n%s", diff)
	}
	fresh, _, _, err := engine.MakePlanScan(t.Context(), d, scanner, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.CallStats(), fresh.CallStats()); diff != "" || len(want.CallStats()) == 0 { // no segment built yet
		t.Errorf("lazy call stats, before any segment (-load +lazy):\n%s", diff)
	}
	// Written, its segments built in reused memory: the same bytes.
	render := func(b []byte, ch *engine.Change) []byte { return append(engine.AppendChangeJSON(b, ch), '\n') }
	var wantText, gotText bytes.Buffer
	for _, ch := range want.Changes {
		wantText.Write(render(nil, ch))
	}
	if err := fresh.WriteChanges(&gotText, render); err != nil {
		t.Fatal(err)
	}
	if wantText.String() != gotText.String() {
		t.Errorf("lazy plan written: %d bytes, want the %d of the loaded plan's changes", gotText.Len(), wantText.Len())
	}
	var segs []*engine.Change
	for i := range lazy.Segments() {
		segs = append(segs, lazy.Segment(i)...)
	}
	if diff := cmp.Diff(want.Changes, segs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("lazy segments (-load +lazy):\n%s", diff)
	}
	if diff := cmp.Diff(want.CallStats(), lazy.CallStats()); diff != "" {
		t.Errorf("lazy call stats (-load +lazy):\n%s", diff)
	}
	lazy.Materialize()
	if diff := cmp.Diff(want.Changes, lazy.Changes, cmpopts.EquateEmpty()); diff != "" || lazy.Lazy() {
		t.Errorf("materialized (-load +lazy):\n%s", diff)
	}
}
