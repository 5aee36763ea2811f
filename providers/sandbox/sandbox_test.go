package sandbox

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// clients returns the three providers pointed at the sandbox by its Env.
func clients(t *testing.T, base string) map[string]engine.Provider {
	t.Helper()
	env := map[string]string{}
	for _, kv := range Env(base) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	bq, err := bonifiq.New(bonifiq.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	ic, err := invisiblecollector.New(invisiblecollector.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := tomticket.New(tomticket.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]engine.Provider{bonifiq.Name: bq, invisiblecollector.Name: ic, tomticket.Name: tt}
	for _, p := range ps {
		if err := p.Ready(); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

func create(id string, provider string, kv ...string) *engine.Change {
	r := &engine.Resource{Provider: provider, ID: id}
	ch := &engine.Change{Address: provider + "/" + id, Provider: provider, ID: id, Action: engine.ActionCreate, Desired: r}
	for i := 0; i < len(kv); i += 2 {
		v := engine.String(kv[i+1])
		if kv[i] == "enabled" || kv[i] == "enrolled" {
			v = engine.Bool(kv[i+1] == "true")
		}
		if kv[i] == "tier.id" {
			v = engine.Int(3)
		}
		r.Fields = r.Fields.Set(kv[i], v)
		ch.Fields = append(ch.Fields, engine.FieldChange{Name: kv[i], After: v})
	}
	return ch
}

func apply(t *testing.T, p engine.Provider, ch *engine.Change) []engine.Outcome {
	t.Helper()
	var outs []engine.Outcome
	for _, call := range p.Calls(ch) {
		out, err := p.Do(context.Background(), ch, call)
		if err != nil {
			t.Fatalf("%s %s: %v", ch.Address, call.Op, err)
		}
		outs = append(outs, out)
	}
	return outs
}

func TestEnv(t *testing.T) {
	want := []string{
		"BONIFIQ_BASE_URL=http://127.0.0.1:8080/bonifiq",
		"BONIFIQ_API_TOKEN=sandbox-token",
		"BONIFIQ_API_KEY=sandbox-key",
		"INVISIBLECOLLECTOR_BASE_URL=http://127.0.0.1:8080/invisiblecollector",
		"INVISIBLECOLLECTOR_API_TOKEN=sandbox-token",
		"TOMTICKET_BASE_URL=http://127.0.0.1:8080/tomticket/v2.0",
		"TOMTICKET_API_TOKEN=sandbox-token",
	}
	if diff := cmp.Diff(want, Env("http://127.0.0.1:8080/")); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
}

func TestClientsThroughSandbox(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "reconcile.sandbox.data.json")
	sb, err := New(Options{DataFile: data, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ps := clients(t, base)
	ctx := context.Background()

	outs := apply(t, ps[bonifiq.Name], create("1001", bonifiq.Name, "name", "Maria", "email", "m@example.com", "enabled", "false", "tier.id", "3"))
	if len(outs) != 3 {
		t.Errorf("bonifiq outcomes = %+v", outs)
	}
	outs = apply(t, ps[invisiblecollector.Name], create("1001", invisiblecollector.Name, "name", "Maria", "vat_number", "PT1", "country", "PT"))
	gid, _ := outs[0].IDs.Get("gid")
	apply(t, ps[tomticket.Name], create("1001", tomticket.Name, "name", "Maria", "language", "es_ES"))

	for prov, want := range map[string]string{bonifiq.Name: "Maria", invisiblecollector.Name: "Maria", tomticket.Name: "Maria"} {
		obs, err := ps[prov].Read(ctx, &engine.Resource{Provider: prov, ID: "1001"}, nil)
		if err != nil {
			t.Fatalf("%s read: %v", prov, err)
		}
		if v, _ := obs.Fields.Get("name"); v.S != want {
			t.Errorf("%s name = %v", prov, v)
		}
	}
	if c, _ := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Customer("1001"); c.IsEnabled || c.TierId != 3 {
		t.Errorf("bonifiq sim holds %+v", c)
	}

	// The official SDK's doubled slash reaches the simulator.
	req, _ := http.NewRequest("GET", base+"/invisiblecollector//customers/"+gid.S, nil)
	req.Header.Set("Authorization", "Bearer "+invisiblecollector.SandboxToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("//customers/{gid}: %d", resp.StatusCode)
	}
	// Outside the three prefixes there is nothing.
	resp, err = http.Get(base + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/other: %d", resp.StatusCode)
	}

	// The log spans the simulators.
	seen := map[string]bool{}
	for _, r := range sb.Requests() {
		seen[r.Provider] = true
	}
	if !seen[bonifiq.Name] || !seen[invisiblecollector.Name] || !seen[tomticket.Name] {
		t.Errorf("log providers = %v", seen)
	}

	// The data survives a restart through the data file.
	if err := sb.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("data file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the data file", len(entries))
	}
	again, err := New(Options{DataFile: data})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sb.Data(), again.Data()); diff != "" {
		t.Errorf("reloaded data (-want +got):\n%s", diff)
	}
}

func TestBadDataFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d.json")
	os.WriteFile(data, []byte("{nope"), 0o600)
	if _, err := New(Options{DataFile: data}); err == nil {
		t.Error("New accepted a corrupt data file")
	}
	os.WriteFile(data, []byte(`{"format_version":"9"}`), 0o600)
	if _, err := New(Options{DataFile: data}); err == nil || !strings.Contains(err.Error(), "format_version") {
		t.Errorf("New with another format: %v", err)
	}
	if _, err := New(Options{FailRate: 1.5}); err == nil {
		t.Error("New accepted a fail rate above 1")
	}
}

func TestFaultInjection(t *testing.T) {
	sb, err := New(Options{FailRate: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ps := clients(t, base)
	statuses := map[int]int{}
	for range 30 {
		_, err := ps[bonifiq.Name].Read(context.Background(), &engine.Resource{Provider: bonifiq.Name, ID: "1"}, nil)
		var ce *engine.CallError
		if !errors.As(err, &ce) || !ce.Retryable {
			t.Fatalf("injected fault: %v, want a retryable error", err)
		}
		statuses[ce.Status]++
	}
	if statuses[429] == 0 || statuses[500] == 0 || statuses[0] == 0 {
		t.Errorf("faults seen = %v, want 429, 500 and dropped connections", statuses)
	}
	if len(bonifiq.SimOf(sb.Sim(bonifiq.Name)).Requests()) != 0 {
		t.Error("faulted requests reached the simulator")
	}
}

func TestLatency(t *testing.T) {
	sb, err := New(Options{Latency: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	start := time.Now()
	_, err = clients(t, base)[tomticket.Name].Read(context.Background(), &engine.Resource{Provider: tomticket.Name, ID: "1"}, nil)
	if !errors.Is(err, engine.ErrNotFound) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answer after %v, want at least the 30ms latency", d)
	}
}
