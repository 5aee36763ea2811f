package manifest

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/reconcile-dev/reconcile/engine"
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

// writeBenchXLSX writes the customers of writeBenchCSV to a workbook, with
// excelize's stream writer: numbers stored as numbers (the id, the tier),
// booleans as booleans, text as inline strings.
func writeBenchXLSX(tb testing.TB, path string, n int) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		tb.Fatal(err)
	}
	header := []any{"id", "name", "email", "phone", "bonifiq.enrolled", "bonifiq.tier.id", "tomticket.language"}
	if err := sw.SetRow("A1", header); err != nil {
		tb.Fatal(err)
	}
	langs := [...]string{"pt-BR", "en-US", "es_ES"}
	row := make([]any, len(header))
	for i := range n {
		id := 100000 + i
		ids := strconv.Itoa(id)
		row[0], row[1], row[2] = id, "Customer "+ids, "customer"+ids+"@example.com"
		row[3] = fmt.Sprintf("+55 11 9%04d-%04d", i/10000%10000, i%10000)
		row[4], row[5], row[6] = i%3 != 0, 1+i%4, langs[i%3]
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		tb.Fatal(err)
	}
}

// peakHeap samples the heap in use while it runs, and returns the highest
// sample: the peak memory of a load, which the live heap after it does not
// show (buffers, the shared strings being built, garbage not yet
// collected).
func peakHeap(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak
}

// cpuTime returns the CPU time the process has used, in every thread: on a
// shared machine it varies less than the elapsed time, and it counts the
// goroutines that read a workbook beside the caller.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadXLSX loads the customers of BenchmarkLoadCSV from a workbook
// (sub-benchmark xlsx) and from the same rows as CSV (csv), for the ratio.
// It reports ns/row, the CPU time per row (cpu-ns/row, every goroutine
// counted), the live heap of the loaded customers and the peak heap of a
// load. The million-row workbook takes a minute to write: it runs
// only with RECONCILE_BENCH_1M=1.
func BenchmarkLoadXLSX(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, kind := range []string{"csv", "xlsx"} {
			b.Run(fmt.Sprintf("rows=%d/%s", n, kind), func(b *testing.B) {
				if n > 100_000 && os.Getenv("RECONCILE_BENCH_1M") == "" {
					b.Skip("set RECONCILE_BENCH_1M=1 to write and load a million-row workbook")
				}
				path := filepath.Join(b.TempDir(), "customers."+kind)
				if kind == "csv" {
					writeBenchCSV(b, path, n)
				} else {
					writeBenchXLSX(b, path, n)
				}
				var live, peak uint64
				var cpu time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					var d *engine.Desired
					var diags engine.Diagnostics
					runtime.GC()
					before := cpuTime()
					p := peakHeap(func() { d, diags = Load(registry.Default(), []string{path}) })
					cpu += cpuTime() - before
					if len(diags) > 0 || len(d.Customers) != n {
						b.Fatalf("%d customers, diagnostics: %v", len(d.Customers), diags)
					}
					b.StopTimer()
					peak = max(peak, p)
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					live = max(live, ms.HeapAlloc)
					runtime.KeepAlive(d)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
				b.ReportMetric(float64(live)/(1<<20), "live-MB")
				b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/row")
			})
		}
	}
}
