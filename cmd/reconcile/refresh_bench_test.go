package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/registry"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// BenchmarkRefreshSandbox measures a refresh: engine.ReadAll reading 10,000
// BonifiQ customers through the real client, over loopback HTTP, from an
// in-process sandbox, at rate_limit 200. It reports the achieved read rate,
// its share of the limit, and checks that it made exactly one read per
// customer.
//
// go test -run '^$' -bench RefreshSandbox -benchtime 1x ./cmd/reconcile
func BenchmarkRefreshSandbox(b *testing.B) {
	const customers, rate = 10000, 200.0
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
	reqs := make([]engine.ReadRequest, customers)
	for i := range reqs {
		id := fmt.Sprintf("r%05d", i)
		if err := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Edit(id, true, func(c *bonifiq.Customer) { c.Name = "Customer " + id }); err != nil {
			b.Fatal(err)
		}
		reqs[i] = engine.ReadRequest{Resource: &engine.Resource{Provider: "bonifiq", ID: id}}
	}
	cfg := registry.Default().DefaultConfig("bonifiq")
	cfg.RateLimit, cfg.Concurrency = rate, 16
	prov, err := bonifiq.New(bonifiq.Options{Config: cfg, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	for range b.N {
		before := len(sb.Requests())
		start := time.Now()
		res := engine.ReadAll(context.Background(), reqs, engine.ApplyOptions{
			Providers:   map[string]engine.Provider{"bonifiq": prov},
			Configs:     map[string]engine.ProviderConfig{"bonifiq": cfg},
			Parallelism: 16,
		})
		elapsed += time.Since(start)
		for _, r := range res {
			if r.Err != nil || r.Observed == nil {
				b.Fatalf("%s: %v", r.Address, r.Err)
			}
		}
		if n := len(sb.Requests()) - before; n != customers {
			b.Fatalf("%d reads for %d customers", n, customers)
		}
	}
	got := float64(customers*b.N) / elapsed.Seconds()
	b.ReportMetric(got, "reads/s")
	b.ReportMetric(100*got/rate, "of-limit-%")
}
