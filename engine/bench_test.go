package engine_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/manifest"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// benchInputs writes, once per size, a CSV of n customers managed in two
// providers and a state holding all of them with 1% changed.
func benchInputs(b *testing.B, n int) (csvPath, statePath string) {
	b.Helper()
	dir := b.TempDir()
	csvPath = filepath.Join(dir, "customers.csv")
	statePath = filepath.Join(dir, "state.json")
	if err := enginetest.WriteCSV(csvPath, n); err != nil {
		b.Fatal(err)
	}
	if err := state.NewFile(statePath).Save(context.Background(), enginetest.State(n, 100)); err != nil {
		b.Fatal(err)
	}
	return csvPath, statePath
}

// BenchmarkLoadAndPlan measures what `reconcile plan` does before printing:
// load and validate the CSV, load the state, diff. Peak heap is reported as
// peak-heap-MB (sampled from the runtime after each phase).
func BenchmarkLoadAndPlan(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			csvPath, statePath := benchInputs(b, n)
			ctx := context.Background()
			var peak uint64
			sample := func() {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			b.ResetTimer()
			for range b.N {
				d, diags := manifest.Load(registry.Default(), []string{csvPath})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				sample()
				s, err := state.NewFile(statePath).Load(ctx)
				if err != nil {
					b.Fatal(err)
				}
				sample()
				p, _ := engine.MakePlan(d, s, engine.PlanOptions{})
				sample()
				if want := 2 * ((n + 99) / 100); p.Summary.Update != want {
					b.Fatalf("updates = %d, want %d", p.Summary.Update, want)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/customer")
		})
	}
}

// BenchmarkBaselineCSV reads the same CSV with encoding/csv and nothing
// else: the floor for loading manifests.
func BenchmarkBaselineCSV(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			csvPath, _ := benchInputs(b, n)
			b.ResetTimer()
			for range b.N {
				f, err := os.Open(csvPath)
				if err != nil {
					b.Fatal(err)
				}
				r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
				r.ReuseRecord = true
				rows := 0
				for {
					_, err := r.Read()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows++
				}
				f.Close()
				if rows != n+1 {
					b.Fatalf("rows = %d", rows)
				}
			}
		})
	}
}

// BenchmarkBaselineStateJSON decodes the same state with encoding/json, one
// line at a time into generic maps: the naive way to read it.
func BenchmarkBaselineStateJSON(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			_, statePath := benchInputs(b, n)
			b.ResetTimer()
			for range b.N {
				f, err := os.Open(statePath)
				if err != nil {
					b.Fatal(err)
				}
				sc := bufio.NewScanner(f)
				sc.Buffer(make([]byte, 1<<20), 16<<20)
				lines := 0
				for sc.Scan() {
					var m map[string]any
					if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
						b.Fatal(err)
					}
					lines++
				}
				f.Close()
				if lines != 2*n+1 {
					b.Fatalf("lines = %d", lines)
				}
			}
		})
	}
}
