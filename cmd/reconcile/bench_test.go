package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// buildReconcile builds the binary once for process benchmarks.
func buildReconcile(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "reconcile")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkPlanProcess runs the whole `reconcile plan` process, human output
// written to a file, and reports its peak resident memory (maxrss-MB):
//   - new: N new rows against an empty state (2N creates);
//   - changed: N rows against a state holding them all, 1% changed.
func BenchmarkPlanProcess(b *testing.B) {
	bin := buildReconcile(b)
	for _, tc := range []struct {
		name    string
		n       int
		changed bool
	}{
		{"new/customers=100000", 100_000, false},
		{"changed/customers=100000", 100_000, true},
		{"changed/customers=1000000", 1_000_000, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			csvPath := filepath.Join(dir, "customers.csv")
			statePath := filepath.Join(dir, "state.json")
			if err := enginetest.WriteCSV(csvPath, tc.n); err != nil {
				b.Fatal(err)
			}
			if tc.changed {
				if err := state.NewFile(statePath).Save(context.Background(), enginetest.State(tc.n, 100)); err != nil {
					b.Fatal(err)
				}
			}
			var maxRSS int64
			b.ResetTimer()
			for range b.N {
				out, err := os.Create(filepath.Join(dir, "plan.txt"))
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(bin, "plan", "-f", csvPath, "-state", statePath, "-no-color")
				cmd.Stdout = out
				cmd.Stderr = os.Stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("plan: %v", err)
				}
				out.Close()
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					maxRSS = max(maxRSS, ru.Maxrss)
				}
			}
			b.StopTimer()
			fi, err := os.Stat(filepath.Join(dir, "plan.txt"))
			if err != nil || fi.Size() == 0 {
				b.Fatalf("no plan output: %v", err)
			}
			b.ReportMetric(float64(maxRSS)/1024, "maxrss-MB")
			b.ReportMetric(float64(fi.Size())/(1<<20), "output-MB")
		})
	}
}

// BenchmarkPlanRun is BenchmarkPlanProcess/new in-process, for profiling
// (-cpuprofile, -memprofile).
func BenchmarkPlanRun(b *testing.B) {
	dir := b.TempDir()
	csvPath := filepath.Join(dir, "customers.csv")
	if err := enginetest.WriteCSV(csvPath, 100_000); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		out, err := os.Create(filepath.Join(dir, "plan.txt"))
		if err != nil {
			b.Fatal(err)
		}
		if code := run(context.Background(), []string{"plan", "-f", csvPath, "-state", filepath.Join(dir, "none.json"), "-no-color"}, nil, out, os.Stderr, os.Getenv); code != 0 {
			b.Fatalf("exit %d", code)
		}
		out.Close()
	}
}
