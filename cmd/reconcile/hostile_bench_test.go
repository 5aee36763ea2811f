package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkHostileManifestMemory measures a whole `reconcile validate`
// process on a 512 MiB CSV that is one line (issue 12: a 2 GiB line took
// 10.3 GB before "too long"): the row limit keeps the reader to about 1 MiB
// of it. It reports the process's max RSS.
//
//	go test -run '^$' -bench HostileManifestMemory -benchtime 1x ./cmd/reconcile
func BenchmarkHostileManifestMemory(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "line.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,name,")
	chunk := bytes.Repeat([]byte{'x'}, 1<<20)
	for range 512 {
		w.Write(chunk)
	}
	w.Flush()
	f.Close()
	b.ResetTimer()
	for range b.N {
		cmd := reconcileCmd(dir, nil, "validate", "-f", path)
		out, _ := cmd.CombinedOutput()
		if !bytes.Contains(out, []byte("row longer than 1 MiB")) {
			b.Fatalf("validate: %s", out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxRSS-MiB")
	}
}
