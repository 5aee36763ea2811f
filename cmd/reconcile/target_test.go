package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// runIn runs reconcile in-process, in the current directory, with env as
// the whole environment.
func runIn(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// TestSandboxNeverReachesTheEnvironmentsServices runs every -sandbox
// command with the environment of a production job: real-looking
// credentials, every *_BASE_URL pointing at a "production" server, and
// RECONCILE_STATE naming the production state. Nothing reaches that server,
// and the production state is never created; the sandbox's state and data
// hold the work.
func TestSandboxNeverReachesTheEnvironmentsServices(t *testing.T) {
	var mu sync.Mutex
	var prodRequests []string
	prod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		prodRequests = append(prodRequests, r.Method+" "+r.URL.Path)
		mu.Unlock()
		http.Error(w, "production", http.StatusUnauthorized) // fatal: no retries
	}))
	defer prod.Close()

	dir := t.TempDir()
	t.Chdir(dir)
	prodState := filepath.Join(dir, "production.state.json")
	env := map[string]string{"NO_COLOR": "1", "RECONCILE_STATE": prodState}
	for _, svc := range registry.Default().Services() {
		env[svc.BaseURLVar] = prod.URL + svc.SandboxPrefix
		for _, c := range svc.Credentials {
			env[c.Var] = "live-" + strings.ToLower(c.Var) + "-7f3a9c"
		}
	}
	if err := os.MkdirAll("manifests", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, "manifests/customers.yaml", `customers:
  - id: "1001"
    name: Maria Silva
    email: maria@example.com
    bonifiq: {enrolled: true, enabled: true, tier: {id: 2}}
    invisiblecollector: {vat_number: "123456789", country: PT}
    tomticket: {language: pt-BR}
  - id: "1002"
    name: João Souza
    tomticket: {}
`)

	steps := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"plan", "-sandbox"}, "Plan: 4 to create"},
		{[]string{"import", "-sandbox"}, "Import complete! 0 imported, 4 not in the service"},
		{[]string{"apply", "-sandbox", "-auto-approve"}, "Apply complete! 4 created"},
		{[]string{"plan", "-sandbox", "-refresh"}, "No changes."},
		{[]string{"apply", "-sandbox", "-refresh", "-auto-approve"}, "No changes."},
		{[]string{"-state", sandboxStateFile, "state", "rm", "tomticket/1002"}, "Removed tomticket/1002"},
		{[]string{"plan", "-sandbox", "-refresh", "-f", "manifests/customers.yaml", "-target", "tomticket/*", "-out", "plan.json"}, "Plan: 1 to create"},
		{[]string{"apply", "-sandbox", "plan.json"}, "Apply complete! 1 created"},
	}
	for _, st := range steps {
		code, stdout, stderr := runIn(t, env, st.args...)
		if code != 0 || !strings.Contains(stdout, st.want) {
			t.Errorf("reconcile %s: exit %d, want 0 and %q in stdout\nstdout:\n%s\nstderr:\n%s", strings.Join(st.args, " "), code, st.want, stdout, stderr)
		}
	}

	requests := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), prodRequests...)
	}
	if got := requests(); len(got) > 0 {
		t.Errorf("-sandbox commands sent %d requests to the environment's base URLs: %v", len(got), got)
	}
	if _, err := os.Stat(prodState); !os.IsNotExist(err) {
		t.Errorf("-sandbox commands wrote RECONCILE_STATE's state %s (stat: %v)", prodState, err)
	}
	s, err := state.NewFile(sandboxStateFile).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Resources) != 4 {
		t.Errorf("the sandbox state holds %d addresses, want 4", len(s.Resources))
	}
	if _, err := os.Stat(sandboxDataFile); err != nil {
		t.Errorf("the sandbox data: %v", err)
	}

	// The same environment without -sandbox is production: the control that
	// shows the server above would have seen a leak.
	if code, _, stderr := runIn(t, env, "plan", "-refresh", "-state", sandboxStateFile); code != 1 || len(requests()) == 0 {
		t.Errorf("plan -refresh against production: exit %d, %d requests to it; want 1 and some (stderr %s)", code, len(requests()), stderr)
	}
}

// TestApplyWithNoChangesFoldsTheJournal: an apply that finds nothing to do
// after an interrupted one still saves the journal's records into the
// state, and the journal goes.
func TestApplyWithNoChangesFoldsTheJournal(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("manifests", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, "manifests/customers.yaml", "customers:\n  - id: \"7\"\n    name: Ana\n    tomticket: {}\n")
	env := map[string]string{"NO_COLOR": "1"}
	if code, _, stderr := runIn(t, env, "apply", "-sandbox", "-auto-approve"); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	// An apply interrupted after recording its last call: the journal holds
	// a record that the state file does not.
	ctx := context.Background()
	b := state.NewFile(sandboxStateFile)
	s, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	serial := s.Serial
	j, err := b.OpenJournal(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(engine.Record{Address: "tomticket/7", Set: engine.Fields{{Name: "name", Value: engine.String("Ana")}}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runIn(t, env, "apply", "-sandbox", "-auto-approve")
	if code != 0 || !strings.Contains(stdout, "No changes.") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(sandboxStateFile + ".journal"); !os.IsNotExist(err) {
		t.Errorf("the journal is still there after an apply with no changes (stat: %v)", err)
	}
	fh, err := os.Open(sandboxStateFile)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	saved, err := state.Read(ctx, fh, sandboxStateFile)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Serial != serial+1 {
		t.Errorf("state file serial %d, want %d: saved once, with the journal folded in", saved.Serial, serial+1)
	}
}
