package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/registry"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// BenchmarkApplySandbox measures apply's throughput end to end: engine.Apply
// with the real BonifiQ client, over loopback HTTP to an in-process sandbox,
// every completed call recorded in the real file journal (one write(2) per
// call, fsync every state.JournalSyncInterval) and the state saved at the
// end. Each change is one create (one upsert call).
//
//   - rate=200: bonifiq rate_limit 200, burst 1. Reports the achieved rate
//     (calls/s), its ratio to the limit (of-limit-%, target >= 97), the 429s
//     the sandbox answered, and the most requests the server saw in any
//     sliding second (max-in-1s).
//   - unlimited: no limit to speak of (1e9/s), concurrency 32, parallelism
//     64, no latency: the ceiling of client + server + journal on this
//     machine (target >= 5,000 calls/s). Client and server share the CPUs,
//     so cpu-µs/call (both sides and the journal) says what an idle machine
//     reaches: cores × 1e6 / cpu-µs/call.
//
// go test -run '^$' -bench ApplySandbox -benchtime 2x ./cmd/reconcile
func BenchmarkApplySandbox(b *testing.B) {
	for _, tc := range []struct {
		name        string
		calls       int
		rate        float64
		burst       int
		concurrency int
		parallelism int
	}{
		{"rate=200", 1000, 200, 1, 16, 16},
		{"unlimited", 20000, 1e9, 64, 32, 64},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sb, err := sandbox.New(sandbox.Options{})
			if err != nil {
				b.Fatal(err)
			}
			base, err := sb.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer sb.Close()
			env := map[string]string{}
			for _, kv := range sb.Env(base) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			cfg := registry.Default().DefaultConfig("bonifiq")
			cfg.RateLimit, cfg.Burst, cfg.Concurrency = tc.rate, tc.burst, tc.concurrency
			prov, err := bonifiq.New(bonifiq.Options{Config: cfg, Getenv: func(k string) string { return env[k] }})
			if err != nil {
				b.Fatal(err)
			}
			p := benchPlan(tc.calls, prov)
			opts := engine.ApplyOptions{
				Providers:   map[string]engine.Provider{"bonifiq": prov},
				Configs:     map[string]engine.ProviderConfig{"bonifiq": cfg},
				Parallelism: tc.parallelism,
			}
			dir := b.TempDir()
			calls := 0
			var cpu time.Duration
			for i := range b.N {
				b.StopTimer()
				st := engine.NewState()
				backend := state.NewFile(filepath.Join(dir, fmt.Sprintf("state-%d.json", i)))
				if err := backend.Save(context.Background(), st); err != nil {
					b.Fatal(err)
				}
				from := len(sb.Requests())
				cpu0 := cpuTime()
				b.StartTimer()

				n := applyWithJournal(b, backend, st, p, opts)

				b.StopTimer()
				cpu += cpuTime() - cpu0
				calls += n
				if tc.rate < 1e6 {
					reqs := sb.Requests()[from:]
					var times []time.Time
					too := 0
					for _, r := range reqs {
						times = append(times, r.Time)
						if r.Status == http.StatusTooManyRequests {
							too++
						}
					}
					b.ReportMetric(float64(too), "429s")
					b.ReportMetric(float64(maxPerWindow(times, time.Second)), "max-in-1s")
				}
				b.StartTimer()
			}
			rate := float64(calls) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "calls/s")
			// CPU per call (client, server and journal together) does not
			// depend on what else the machine runs: 2 cores / this is the
			// ceiling on an idle machine.
			b.ReportMetric(float64(cpu.Microseconds())/float64(calls), "cpu-µs/call")
			if tc.rate < 1e6 {
				b.ReportMetric(100*rate/tc.rate, "of-limit-%")
			}
		})
	}
}

// applyWithJournal applies p recording through backend's journal, as the
// apply command does, then saves the state; it returns the calls made.
func applyWithJournal(b *testing.B, backend *state.File, st *engine.State, p *engine.Plan, opts engine.ApplyOptions) int {
	b.Helper()
	ctx := context.Background()
	j, err := backend.OpenJournal(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	opts.Recorder = operation.NewRecorder(j, st)
	res, err := engine.Apply(ctx, p, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	if err := backend.Save(ctx, st); err != nil {
		b.Fatal(err)
	}
	if res.Failed+res.NotAttempted > 0 {
		for _, it := range res.Items {
			if it.Status != engine.StatusOK {
				b.Fatalf("%s: %s %s", it.Change.Address, it.Status, it.Message)
			}
		}
	}
	if len(st.Resources) != len(p.Changes) {
		b.Fatalf("the state holds %d addresses, want %d", len(st.Resources), len(p.Changes))
	}
	return res.Calls
}

// benchPlan makes n BonifiQ creates of a name and an e-mail: one upsert each.
func benchPlan(n int, prov engine.Provider) *engine.Plan {
	p := &engine.Plan{Registry: registry.Default()}
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
	p.Summary.Create = n
	return p
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxPerWindow returns the most times within any window of length d.
func maxPerWindow(times []time.Time, d time.Duration) int {
	times = slices.Clone(times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
