package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/manifest"
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

// bufScanner scans a state held in memory.
type bufScanner []byte

func (b bufScanner) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return ScanState(ctx, bytes.NewReader(b), "state", visit, registry.Default().Names()...)
}

// TestPlanScanIsMakePlan: the plan merged with a streamed state is the plan
// made against the loaded one, change for change (digests, ids, fields,
// sources), count for count, diagnostic for diagnostic, over states of many
// chunks with updates, creates, forgets, disables, absent entries, fields
// the manifests leave out, and targets.
func TestPlanScanIsMakePlan(t *testing.T) {
	reg := registry.Default()
	dir := t.TempDir()
	const n = 12000
	csvPath := filepath.Join(dir, "customers.csv")
	if err := enginetest.WriteCSV(csvPath, n); err != nil {
		t.Fatal(err)
	}
	d, diags := manifest.Load(reg, []string{csvPath})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 7))
			s := enginetest.State(n, 50)
			for _, addr := range slices.Sorted(maps.Keys(s.Resources)) { // the same state every run
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
			var buf bytes.Buffer
			if err := Write(&buf, s, reg.Names()...); err != nil {
				t.Fatal(err)
			}
			if buf.Len() < 3*blockBytes {
				t.Fatalf("state of %d bytes: want several chunks", buf.Len())
			}
			loaded, err := Read(t.Context(), bytes.NewReader(buf.Bytes()), "state", reg.Names()...)
			if err != nil {
				t.Fatal(err)
			}
			dd.Providers = map[string]engine.ProviderConfig{}
			for k, v := range d.Providers {
				dd.Providers[k] = v
			}
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
			got, gotDiags, info, err := engine.MakePlanScan(t.Context(), &dd, bufScanner(buf.Bytes()), opts)
			if err != nil {
				t.Fatal(err)
			}
			if info.Entries != len(s.Resources) || info.Lineage != s.Lineage || info.Serial != s.Serial {
				t.Errorf("scan info %+v, want %d entries of %s serial %d", info, len(s.Resources), s.Lineage, s.Serial)
			}
			if want.Summary.Changes() == 0 || want.Summary.Create == 0 || want.Summary.Forget+want.Summary.Disable == 0 || want.Summary.Update == 0 {
				t.Fatalf("the case plans too little: %+v", want.Summary)
			}
			if diff := cmp.Diff(want.Summary, got.Summary); diff != "" {
				t.Errorf("summary (-load +scan):\n%s", diff)
			}
			if diff := cmp.Diff(want.Changes, got.Changes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("changes (-load +scan):\n%s", diff)
			}
			if targets == nil && wantDiags.Errors() == 0 {
				t.Fatal("the case has no diagnostics to compare")
			}
			if diff := cmp.Diff(wantDiags, gotDiags, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("diagnostics (-load +scan):\n%s", diff)
			}

			// Lazily: the same plan, its creates built segment by segment.
			opts.Lazy = true
			lazy, lazyDiags, _, err := engine.MakePlanScan(t.Context(), &dd, bufScanner(buf.Bytes()), opts)
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
			fresh, _, _, err := engine.MakePlanScan(t.Context(), &dd, bufScanner(buf.Bytes()), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.CallStats(), fresh.CallStats()); diff != "" { // no segment built yet
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
			if diff := cmp.Diff(want.CallStats(), lazy.CallStats()); diff != "" || len(want.CallStats()) == 0 {
				t.Errorf("lazy call stats (-load +lazy):\n%s", diff)
			}
			lazy.Materialize()
			if diff := cmp.Diff(want.Changes, lazy.Changes, cmpopts.EquateEmpty()); diff != "" || lazy.Lazy() {
				t.Errorf("materialized (-load +lazy):\n%s", diff)
			}
		})
	}
}

// TestPlanOfUnchangedCustomersAllocatesLittle: merging 200,000 unchanged
// customers with their state allocates a small constant per customer on
// top of reading the state's lines: nothing is built for an address whose
// line matches the manifests.
func TestPlanOfUnchangedCustomersAllocatesLittle(t *testing.T) {
	reg := registry.Default()
	dir := t.TempDir()
	const n = 200_000
	csvPath := filepath.Join(dir, "customers.csv")
	if err := enginetest.WriteCSV(csvPath, n); err != nil {
		t.Fatal(err)
	}
	d, diags := manifest.Load(reg, []string{csvPath})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var buf bytes.Buffer
	if err := Write(&buf, enginetest.State(n, 0), reg.Names()...); err != nil {
		t.Fatal(err)
	}
	bytesOf := func(f func()) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	// The floor: decoding every line, visiting none.
	floor := bytesOf(func() {
		if _, err := bufScanner(buf.Bytes()).Scan(t.Context(), func(*engine.EntryBatch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	var p *engine.Plan
	plan := bytesOf(func() {
		var err error
		if p, _, _, err = engine.MakePlanScan(t.Context(), d, bufScanner(buf.Bytes()), engine.PlanOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if p.Summary.NoOp != 2*n || p.Summary.Changes() != 0 {
		t.Fatalf("summary %+v, want %d unchanged", p.Summary, 2*n)
	}
	perCustomer := float64(plan-min(plan, floor)) / n
	t.Logf("reading the lines: %d bytes (%.0f per customer); the plan: %d bytes, %.1f per customer more", floor, float64(floor)/n, plan, perCustomer)
	// The plan sorts the customers by id (4 bytes each) and marks those the
	// state matched (8 bytes each): 12 bytes, and a few for each batch.
	if perCustomer > 16 {
		t.Errorf("the plan allocates %.1f bytes per unchanged customer beyond reading its line, want at most 16", perCustomer)
	}
}
