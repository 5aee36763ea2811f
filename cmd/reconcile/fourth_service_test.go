package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/testkit/crmlite"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// TestFourthService: a service is its folder plus a registry line. The
// made-up crmlite (providers/testkit/crmlite), registered in a registry
// this test builds, goes through validate, plan, apply, plan -refresh and
// import against its own simulator in the sandbox, with no other file
// changed.
func TestFourthService(t *testing.T) {
	reg := engine.MustRegistry(bonifiq.Service, invisiblecollector.Service, tomticket.Service, crmlite.Service)
	dir := t.TempDir()
	t.Chdir(dir)
	manifest := `customers:
  - id: "c1"
    name: Ana Lima
    email: ana@example.com
    crmlite: {tier: pro, vip: true, notes: "met at the fair"}
  - id: "c2"
    name: Bruno Costa
    crmlite: {tier: free}
    bonifiq: {enrolled: true}
  - id: "c3"
    name: Carla Dias
    phone: "+55 11 5555-0003"
    crmlite: {}
`
	if err := os.WriteFile("customers.yaml", []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := runWith(reg, context.Background(), append(args, "-no-color"), strings.NewReader(""), &out, &out, func(string) string { return "" })
		return code, out.String()
	}
	expect := func(want int, substr string, args ...string) string {
		t.Helper()
		code, out := cli(args...)
		if code != want || !strings.Contains(out, substr) {
			t.Fatalf("reconcile %s: exit %d, want %d and %q in:\n%s", strings.Join(args, " "), code, want, substr, out)
		}
		return out
	}

	expect(0, "crmlite 3", "validate", "-f", "customers.yaml")
	// A crmlite key it does not have is positioned and named, as for the others.
	os.WriteFile("bad.yaml", []byte("customers:\n  - id: x\n    name: X\n    crmlite: {tiers: pro}\n"), 0o600)
	expect(1, `bad.yaml:4:15: customers[0].crmlite.tiers: unknown key (did you mean "tier"?)`, "validate", "-f", "bad.yaml")

	out := expect(0, "Plan: 4 to create, 0 to update", "plan", "-sandbox", "-f", "customers.yaml")
	if !strings.Contains(out, "+ crmlite/c1") || !strings.Contains(out, "crmlite: 3 calls") {
		t.Errorf("plan does not show crmlite's creates and calls:\n%s", out)
	}
	expect(0, "Apply complete! 4 created", "apply", "-sandbox", "-auto-approve", "-f", "customers.yaml")

	// The simulator holds what was sent, under its own wire names.
	data := sandboxData(t, crmlite.Name)
	var contacts map[string]map[string]any
	if err := json.Unmarshal(data, &contacts); err != nil {
		t.Fatal(err)
	}
	if c := contacts["c1"]; c["fullName"] != "Ana Lima" || c["tier"] != "pro" || c["vip"] != true || c["notes"] != "met at the fair" {
		t.Errorf("crmlite holds %v for c1", c)
	}
	expect(0, "No changes.", "plan", "-sandbox", "-f", "customers.yaml")

	// Someone changes c2's tier in crmlite itself: a refreshed plan shows
	// the drift, and notes (which crmlite cannot read back) are planned
	// from the state.
	contacts["c2"]["tier"] = "pro"
	editSandboxData(t, crmlite.Name, contacts)
	out = expect(0, "Plan: 0 to create, 1 to update", "plan", "-sandbox", "-refresh", "-f", "customers.yaml")
	if !strings.Contains(out, `~ tier = "pro" -> "free"  # changed outside reconcile`) {
		t.Errorf("refreshed plan does not show the drift:\n%s", out)
	}
	expect(0, "Apply complete! 0 created, 1 updated", "apply", "-sandbox", "-refresh", "-auto-approve", "-f", "customers.yaml")

	// A fresh state adopts what the services hold.
	out = expect(0, "Import complete! 4 imported", "import", "-sandbox", "-state", "fresh.state.json", "-f", "customers.yaml")
	if !strings.Contains(out, "crmlite/c3") {
		t.Errorf("import does not list crmlite/c3:\n%s", out)
	}
	// Only what crmlite cannot read back (c1's notes) is left to send.
	out = expect(0, "Plan: 0 to create, 1 to update", "plan", "-state", "fresh.state.json", "-f", "customers.yaml")
	if !strings.Contains(out, "~ crmlite/c1") || !strings.Contains(out, `notes = "met at the fair"`) {
		t.Errorf("after import, crmlite's unreadable notes should be planned, and nothing else:\n%s", out)
	}
}

// sandboxData returns one service's part of the sandbox's data file.
func sandboxData(t *testing.T, service string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(".", sandboxDataFile))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d[service]
}

// editSandboxData replaces one service's part of the sandbox's data file.
func editSandboxData(t *testing.T, service string, v any) {
	t.Helper()
	b, err := os.ReadFile(sandboxDataFile)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d[service], err = json.Marshal(v); err != nil {
		t.Fatal(err)
	}
	if b, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sandboxDataFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
