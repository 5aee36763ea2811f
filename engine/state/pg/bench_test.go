package pg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// BenchmarkJournalRecord records completed calls into PostgreSQL from
// concurrent callers, as apply's workers do (-parallelism 10 by default):
// each Record returns once its row is committed. calls/s is the figure to
// compare with the services' rate limits.
func BenchmarkJournalRecord(b *testing.B) {
	url := testURL(b)
	for _, callers := range []int{1, 10, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			be := openTest(b, url, freshWorkspace(b))
			s := engine.NewState()
			if err := be.Save(b.Context(), s); err != nil {
				b.Fatal(err)
			}
			j, err := be.OpenJournal(b.Context(), s)
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + callers - 1) / callers
			for range callers {
				wg.Go(func() {
					for range per {
						i := n.Add(1)
						rec := engine.Record{Address: fmt.Sprintf("bonifiq/%07d", i), Set: engine.Fields{
							{Name: "email", Value: engine.String(fmt.Sprintf("c%d@example.com", i))},
							{Name: "tier.id", Value: engine.Int(i % 5)},
						}, IDs: engine.Fields{{Name: "PublicId", Value: engine.String("pub")}}}
						if err := j.Record(rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "calls/s")
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// bigStored is one big state, stored once per run.
type bigStored struct {
	once     sync.Once
	ws, file string
	err      error
}

var bigStates sync.Map // customers -> *bigStored

// bigState stores enginetest.State(customers) (2 addresses per customer)
// once per run, in a workspace and in a state file.
func bigState(b *testing.B, url string, customers int) (string, string) {
	v, _ := bigStates.LoadOrStore(customers, &bigStored{})
	big := v.(*bigStored)
	big.once.Do(func() {
		big.ws = freshWorkspace(b)
		s := enginetest.State(customers, 0)
		if big.err = openTest(b, url, big.ws).Save(b.Context(), s); big.err != nil {
			return
		}
		s.Serial = 1
		dir, _ := filepathTemp()
		big.file = filepath.Join(dir, "reconcile.state.json")
		big.err = state.NewFile(big.file).Save(b.Context(), s)
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big.ws, big.file
}

// BenchmarkLoad1M loads 1,000,000 addresses (500,000 customers in two
// services), as apply does (plan streams them instead: BenchmarkScan2M):
// from PostgreSQL and, to compare, from a file.
func BenchmarkLoad1M(b *testing.B) { benchLoad(b, 500_000) }

// BenchmarkLoad2M loads 2,000,000 addresses (1,000,000 customers in two
// services), as apply does.
func BenchmarkLoad2M(b *testing.B) { benchLoad(b, 1_000_000) }

func benchLoad(b *testing.B, customers int) {
	url := testURL(b)
	ws, file := bigState(b, url, customers)
	b.Run("postgres", func(b *testing.B) {
		for b.Loop() {
			s, err := openTest(b, url, ws).Load(b.Context())
			if err != nil || len(s.Resources) != 2*customers {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		for b.Loop() {
			s, err := state.NewFile(file).Load(b.Context())
			if err != nil || len(s.Resources) != 2*customers {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScan2M streams 2,000,000 addresses (1,000,000 customers in two
// services) without holding them, as plan does: from PostgreSQL and, to
// compare, from a file.
func BenchmarkScan2M(b *testing.B) {
	const customers = 1_000_000
	url := testURL(b)
	ws, file := bigState(b, url, customers)
	for _, name := range []string{"postgres", "file"} {
		b.Run(name, func(b *testing.B) {
			var sc engine.StateScanner = openTest(b, url, ws)
			if name == "file" {
				sc = state.NewFile(file)
			}
			for b.Loop() {
				var n atomic.Int64
				info, err := sc.Scan(b.Context(), func(bt *engine.EntryBatch) error {
					n.Add(int64(len(bt.Recs)))
					return nil
				})
				if err != nil || info.Entries != 2*customers || n.Load() != 2*customers {
					b.Fatal(err, info.Entries, n.Load())
				}
			}
		})
	}
}

// BenchmarkSave1MChanged1000 saves a 1,000,000-address state loaded from
// PostgreSQL after 1,000 addresses changed: what apply's final save
// costs. The file backend rewrites the whole file (compare BenchmarkSave
// in engine/state).
func BenchmarkSave1MChanged1000(b *testing.B) {
	url := testURL(b)
	ws, file := bigState(b, url, 500_000)
	for _, name := range []string{"postgres", "file"} {
		b.Run(name, func(b *testing.B) {
			var be engine.Backend = openTest(b, url, ws)
			if name == "file" {
				be = state.NewFile(file)
			}
			s, err := be.Load(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			round := 0
			for b.Loop() {
				round++
				i := 0
				for _, e := range s.Resources {
					if i == 1000 {
						break
					}
					e.Fields = e.Fields.Set("name", engine.String(fmt.Sprintf("round %d", round)))
					i++
				}
				if err := be.Save(b.Context(), s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func filepathTemp() (string, error) { return os.MkdirTemp("", "pgbench") }

// noopProvider answers every call at once: what is left is the engine and
// the journal.
type noopProvider struct{}

func (noopProvider) Name() string { return "bonifiq" }
func (noopProvider) Ready() error { return nil }
func (noopProvider) Calls(ch *engine.Change) []engine.Call {
	return []engine.Call{{Method: "PUT", Path: "/" + ch.ID, Op: "update", Fields: []string{"name"}}}
}
func (noopProvider) Do(context.Context, *engine.Change, engine.Call) (engine.Outcome, error) {
	return engine.Outcome{Status: 200}, nil
}
func (noopProvider) Read(context.Context, *engine.Resource, engine.Fields) (*engine.Observed, error) {
	return nil, engine.ErrNotFound
}

type noLimit struct{}

func (noLimit) Wait(context.Context) error { return nil }
func (noLimit) Slow()                      {}
func (noLimit) Succeeded()                 {}
func (noLimit) Rate() float64              { return 1e9 }

// BenchmarkApplyNoopJournal runs engine.Apply with no rate limit and a
// provider that answers at once, recording every call in the PostgreSQL
// journal, at apply's default -parallelism 10 and at 32: the engine's
// ceiling with this backend (concurrent records share commits).
func BenchmarkApplyNoopJournal(b *testing.B) {
	for _, par := range []int{10, 32} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) { benchApplyNoopJournal(b, par) })
	}
}

func benchApplyNoopJournal(b *testing.B, parallelism int) {
	url := testURL(b)
	const n = 5000
	p := &engine.Plan{}
	for i := range n {
		id := fmt.Sprintf("%06d", i)
		ch := &engine.Change{Address: "bonifiq/" + id, Provider: "bonifiq", ID: id, Action: engine.ActionUpdate,
			Desired: &engine.Resource{Provider: "bonifiq", ID: id, Fields: engine.Fields{{Name: "name", Value: engine.String("n" + id)}}},
			Fields:  []engine.FieldChange{{Name: "name", After: engine.String("n" + id)}}}
		ch.Calls = noopProvider{}.Calls(ch)
		p.Changes = append(p.Changes, ch)
	}
	cfg := registry.Default().DefaultConfig("bonifiq")
	cfg.Concurrency = parallelism
	calls := 0
	for b.Loop() {
		be := openTest(b, url, freshWorkspace(b))
		s := engine.NewState()
		if err := be.Save(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		j, err := be.OpenJournal(b.Context(), s)
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.Apply(b.Context(), p, engine.ApplyOptions{
			Providers:   map[string]engine.Provider{"bonifiq": noopProvider{}},
			Configs:     map[string]engine.ProviderConfig{"bonifiq": cfg},
			Limiters:    map[string]engine.Limiter{"bonifiq": noLimit{}},
			Parallelism: parallelism,
			Recorder:    j,
		})
		if err != nil || res.Failed > 0 {
			b.Fatal(err, res.Failed)
		}
		calls += res.Calls
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
}
