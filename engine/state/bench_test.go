package state

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

// The benchmark sizes: 100k entries, and 2M (1M customers in two
// providers). Run the big one alone: go test -run XXX -bench /2M -benchtime 3x
var benchSizes = []struct {
	name string
	n    int
}{{"100k", 100_000}, {"2M", 2_000_000}}

var benchFiles sync.Map // size -> path of a saved generated state

// benchFile returns a state file of n generated entries, written once per
// test binary run.
func benchFile(b *testing.B, n int) string {
	if p, ok := benchFiles.Load(n); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "statebench")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "reconcile.state.json")
	if err := NewFile(path).Save(b.Context(), genState(n)); err != nil {
		b.Fatal(err)
	}
	benchFiles.Store(n, path)
	return path
}

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		lockHelper(path)
		return
	}
	code := m.Run()
	benchFiles.Range(func(_, p any) bool {
		os.RemoveAll(filepath.Dir(p.(string)))
		return true
	})
	if code != 0 {
		os.Exit(code)
	}
}

func reportPerEntry(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
}

func BenchmarkLoad(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			path := benchFile(b, size.n)
			fi, _ := os.Stat(path)
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			for b.Loop() {
				s, err := NewFile(path).Load(b.Context())
				if err != nil || len(s.Resources) != size.n {
					b.Fatal(err, len(s.Resources))
				}
			}
			reportPerEntry(b, size.n)
		})
	}
}

// BenchmarkLoadEncodingJSON decodes the same files with encoding/json, line
// by line, into the same entries: the baseline the fast path is for.
func BenchmarkLoadEncodingJSON(b *testing.B) {
	type line struct {
		Address string                  `json:"address"`
		Fields  map[string]engine.Value `json:"fields"`
		IDs     map[string]engine.Value `json:"ids"`
	}
	fields := func(m map[string]engine.Value) engine.Fields {
		if len(m) == 0 {
			return nil
		}
		fs := make(engine.Fields, 0, len(m))
		for k, v := range m {
			fs = append(fs, engine.Field{Name: k, Value: v})
		}
		fs.Sort()
		return fs
	}
	load := func(path string) (*engine.State, error) {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 0, 1<<20), MaxLineBytes)
		if !sc.Scan() {
			return nil, io.ErrUnexpectedEOF
		}
		var h struct {
			Lineage   string `json:"lineage"`
			Serial    int64  `json:"serial"`
			Resources int    `json:"resources"`
		}
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return nil, err
		}
		s := &engine.State{Lineage: h.Lineage, Serial: h.Serial, Resources: make(map[string]*engine.Entry, h.Resources)}
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return nil, err
			}
			p, id, ok := engine.SplitAddress(l.Address)
			if !ok {
				return nil, fmt.Errorf("bad address %q", l.Address)
			}
			s.Resources[l.Address] = &engine.Entry{Provider: p, ID: id, Fields: fields(l.Fields), IDs: fields(l.IDs)}
		}
		return s, sc.Err()
	}
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			path := benchFile(b, size.n)
			fi, _ := os.Stat(path)
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			for b.Loop() {
				s, err := load(path)
				if err != nil || len(s.Resources) != size.n {
					b.Fatal(err)
				}
			}
			reportPerEntry(b, size.n)
		})
	}
}

// BenchmarkSave measures a whole Save: encoding, fsync, backup and rename.
func BenchmarkSave(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			s := genState(size.n)
			f := NewFile(filepath.Join(b.TempDir(), "reconcile.state.json"))
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Save(b.Context(), s); err != nil {
					b.Fatal(err)
				}
			}
			reportPerEntry(b, size.n)
		})
	}
}

// BenchmarkWrite measures the encoding alone, to io.Discard.
func BenchmarkWrite(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			s := genState(size.n)
			b.ReportAllocs()
			for b.Loop() {
				if err := Write(io.Discard, s); err != nil {
					b.Fatal(err)
				}
			}
			reportPerEntry(b, size.n)
		})
	}
}
