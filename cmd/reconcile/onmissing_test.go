package main

import (
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// TestOnMissingSkip: an update-only migration (on_missing: skip) updates
// the customers the services have and lists the others, never creating
// them; the state does not record them, so the next plan still plans them
// and says they may be skipped; import, which knows who is missing, shows
// them as skipped.
func TestOnMissingSkip(t *testing.T) {
	sb, base := startSandbox(t, sandbox.Options{})
	env := sandbox.Env(base)
	dir := t.TempDir()
	// e1 and e2 exist in both services; n1 and n2 do not.
	seed := newManifest("")
	for _, id := range []string{"e1", "e2"} {
		seed.customer(id, "    name: Old "+id+"\n    bonifiq: {enrolled: true}\n    tomticket: {language: pt-BR}\n")
	}
	seed.write(t, dir)
	if r := runReconcile(t, dir, env, "apply", "-auto-approve", "-f", "m.yaml", "-state", "seed.json"); r.code != 0 {
		t.Fatalf("seed: %s%s", r.stdout, r.stderr)
	}
	m := newManifest("  bonifiq: {on_missing: skip}\n  tomticket: {on_missing: skip}\n")
	for _, id := range []string{"e1", "e2", "n1", "n2"} {
		m.customer(id, "    name: New "+id+"\n    bonifiq: {enrolled: true}\n    tomticket: {language: en-US}\n")
	}
	m.write(t, dir)
	plan := runReconcile(t, dir, env, "plan", "-f", "m.yaml", "-no-color")
	if !strings.Contains(plan.stdout, "Note: tomticket's on_missing is skip: 4 creates may update the customers it has and skip the others") {
		t.Errorf("plan does not say the creates may be skipped:\n%s", plan.stdout)
	}
	r := runReconcile(t, dir, env, "apply", "-auto-approve", "-f", "m.yaml", "-report", "report.csv", "-no-color")
	if r.code != 0 || !strings.Contains(r.stdout, "4 created") || !strings.Contains(r.stdout, "4 skipped: not in the service, and on_missing: skip") {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range []string{"n1", "n2"} {
		if _, ok := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Customer(id); ok {
			t.Errorf("bonifiq %s was created", id)
		}
		if _, ok := tomticket.SimOf(sb.Sim(tomticket.Name)).Customer(id); ok {
			t.Errorf("tomticket %s was created", id)
		}
	}
	if c, ok := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Customer("e1"); !ok || c.Name != "New e1" {
		t.Errorf("bonifiq e1 not updated: %+v", c)
	}
	rows := reportRows(t, dir+"/report.csv")
	if rows["tomticket/n1"][2] != "skipped" || rows["bonifiq/n2"][2] != "skipped" || rows["tomticket/e1"][2] != "ok" {
		t.Errorf("report rows: %v", rows)
	}
	// Not recorded: the next plan plans them again, and may skip them.
	plan = runReconcile(t, dir, env, "plan", "-f", "m.yaml", "-no-color")
	if !strings.Contains(plan.stdout, "Plan: 4 to create, 0 to update") || !strings.Contains(plan.stdout, "skip the others") {
		t.Errorf("the next plan:\n%s", plan.stdout)
	}
	// import knows who is missing: it lists them as skipped, and the plan
	// after it says so for each.
	imp := runReconcile(t, dir, env, "import", "-f", "m.yaml")
	if !strings.Contains(imp.stdout, "Not in the service, and on_missing: skip (apply will skip them):") || !strings.Contains(imp.stdout, "tomticket/n2") {
		t.Errorf("import:\n%s", imp.stdout)
	}
	plan = runReconcile(t, dir, env, "plan", "-f", "m.yaml", "-no-color")
	if !strings.Contains(plan.stdout, "+ tomticket/n1 (skipped: not in the service, and on_missing: skip)") || !strings.Contains(plan.stdout, "4 of the creates will be skipped") {
		t.Errorf("the plan after import:\n%s", plan.stdout)
	}
}
