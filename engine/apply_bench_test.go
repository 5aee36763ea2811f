package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// noopProvider answers every call at once with success: apply's own ceiling.
type noopProvider struct{}

func (noopProvider) Name() string { return "bonifiq" }
func (noopProvider) Ready() error { return nil }
func (noopProvider) Calls(ch *engine.Change) []engine.Call {
	return []engine.Call{{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: "upsert", Fields: ch.Changed()}}
}
func (noopProvider) Do(context.Context, *engine.Change, engine.Call) (engine.Outcome, error) {
	return engine.Outcome{Status: 200}, nil
}
func (noopProvider) Read(context.Context, *engine.Resource, engine.Fields) (*engine.Observed, error) {
	return nil, engine.ErrNotFound
}

// journalRecorder records to the file journal and folds into the state, as
// the apply command does.
type journalRecorder struct {
	mu sync.Mutex
	j  engine.Journal
	st *engine.State
}

func (r *journalRecorder) Record(rec engine.Record) error {
	if err := r.j.Record(rec); err != nil {
		return err
	}
	r.mu.Lock()
	r.st.ApplyRecord(rec)
	r.mu.Unlock()
	return nil
}

// BenchmarkApplyNoopProvider measures engine.Apply with a provider that
// answers instantly, every call recorded in the real file journal (one
// write(2) per call, fsync every state.JournalSyncInterval) and the state
// saved at the end: the engine's own ceiling in calls/s, whatever the
// services do.
//
// go test -run '^$' -bench ApplyNoopProvider -benchtime 3x ./engine
func BenchmarkApplyNoopProvider(b *testing.B) {
	const n = 100_000
	for _, tc := range []struct {
		name        string
		concurrency int
		parallelism int
	}{
		{"concurrency=32", 32, 64},
		{"concurrency=4", 4, 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			prov := noopProvider{}
			p := &engine.Plan{}
			for i := range n {
				id := fmt.Sprintf("b%07d", i)
				r := &engine.Resource{Provider: "bonifiq", ID: id, Fields: engine.Fields{
					{Name: "email", Value: engine.String(id + "@example.com")},
					{Name: "name", Value: engine.String("Customer " + id)},
				}}
				ch := &engine.Change{Address: r.Address(), Provider: "bonifiq", ID: id, Action: engine.ActionCreate, Desired: r}
				for _, f := range r.Fields {
					ch.Fields = append(ch.Fields, engine.FieldChange{Name: f.Name, After: f.Value})
				}
				ch.Calls = prov.Calls(ch)
				p.Changes = append(p.Changes, ch)
			}
			cfg := registry.Default().DefaultConfig("bonifiq")
			cfg.RateLimit, cfg.Burst, cfg.Concurrency = 1e9, 64, tc.concurrency
			dir := b.TempDir()
			ctx := context.Background()
			calls := 0
			for i := range b.N {
				b.StopTimer()
				st := engine.NewState()
				backend := state.NewFile(filepath.Join(dir, fmt.Sprintf("state-%d.json", i)))
				if err := backend.Save(ctx, st); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()

				j, err := backend.OpenJournal(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				res, err := engine.Apply(ctx, p, engine.ApplyOptions{
					Providers:   map[string]engine.Provider{"bonifiq": prov},
					Configs:     map[string]engine.ProviderConfig{"bonifiq": cfg},
					Parallelism: tc.parallelism,
					Recorder:    &journalRecorder{j: j, st: st},
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := j.Close(); err != nil {
					b.Fatal(err)
				}
				if err := backend.Save(ctx, st); err != nil {
					b.Fatal(err)
				}

				b.StopTimer()
				if res.Created != n || len(st.Resources) != n {
					b.Fatalf("created %d, state holds %d; want %d", res.Created, len(st.Resources), n)
				}
				calls += res.Calls
				b.StartTimer()
			}
			b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
