package manifest

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/reconcile-dev/reconcile/providers/registry"
)

// writeBenchCSV writes n customers managed in bonifiq and tomticket to a
// canonical CSV, the shape of a bulk migration from a spreadsheet.
func writeBenchCSV(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,name,email,phone,bonifiq.enrolled,bonifiq.tier.id,tomticket.language\n")
	langs := [...]string{"pt-BR", "en-US", "es_ES"}
	b := make([]byte, 0, 128)
	for i := range n {
		id := strconv.Itoa(100000 + i)
		b = append(b[:0], id...)
		b = append(b, ",Customer "...)
		b = append(b, id...)
		b = append(b, ",customer"...)
		b = append(b, id...)
		b = append(b, "@example.com,+55 11 9"...)
		b = fmt.Appendf(b, "%04d-%04d", i/10000%10000, i%10000)
		b = strconv.AppendBool(append(b, ','), i%3 != 0)
		b = strconv.AppendInt(append(b, ','), int64(1+i%4), 10)
		b = append(append(b, ','), langs[i%3]...)
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLoadCSV loads a canonical CSV of 100k and 1M customers. It
// reports ns/row and the heap the loaded customers hold (live-MB).
func BenchmarkLoadCSV(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "customers.csv")
			writeBenchCSV(b, path, n)
			var live uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				d, diags := Load(registry.Default(), []string{path})
				if len(diags) > 0 || len(d.Customers) != n {
					b.Fatalf("%d customers, diagnostics: %v", len(d.Customers), diags)
				}
				b.StopTimer()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				live = max(live, ms.HeapAlloc)
				runtime.KeepAlive(d)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
			b.ReportMetric(float64(live)/(1<<20), "live-MB")
		})
	}
}

// BenchmarkReadCSV reads the same CSV with encoding/csv and nothing else:
// the floor BenchmarkLoadCSV is measured against.
func BenchmarkReadCSV(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "customers.csv")
			writeBenchCSV(b, path, n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
				r.ReuseRecord = true
				rows := 0
				for ; ; rows++ {
					if _, err := r.Read(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
				if rows != n+1 {
					b.Fatalf("%d rows", rows)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
		})
	}
}

// BenchmarkLoadYAML loads a YAML manifest of 10k customers.
func BenchmarkLoadYAML(b *testing.B) {
	const n = 10_000
	path := filepath.Join(b.TempDir(), "customers.yaml")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("customers:\n")
	for i := range n {
		fmt.Fprintf(w, "  - id: \"%d\"\n    name: Customer %d\n    email: c%d@example.com\n    bonifiq: {enrolled: true, tier: {id: %d}}\n    tomticket: {language: pt-BR}\n", i, i, i, 1+i%4)
	}
	w.Flush()
	f.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if d, diags := Load(registry.Default(), []string{path}); len(diags) > 0 || len(d.Customers) != n {
			b.Fatal(diags)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/customer")
}
