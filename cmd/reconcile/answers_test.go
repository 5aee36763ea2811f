package main

import (
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// TestImportedMissingCustomersAreCreatedInOneRequest: a customer import saw
// missing is remembered in the state, so apply's first request for it is
// TomTicket's customer/new, with no customer/update before it; and under
// either reading of TomTicket's "not found" (a 404, or a 200 with error:
// true) import lists it as not in the service.
func TestImportedMissingCustomersAreCreatedInOneRequest(t *testing.T) {
	for _, alternate := range []bool{false, true} {
		sb, base := startSandbox(t, sandbox.Options{Alternate: alternate})
		dir := t.TempDir()
		m := newManifest("")
		for _, id := range []string{"a1", "a2", "a3"} {
			m.customer(id, "    name: Customer "+id+"\n    tomticket: {language: pt-BR}\n")
		}
		m.write(t, dir)
		env := sandbox.Env(base)
		r := runReconcile(t, dir, env, "import", "-f", "m.yaml")
		if r.code != 0 || !strings.Contains(r.stdout, "Not in the service (apply will create them)") || !strings.Contains(r.stdout, "tomticket/a3") {
			t.Fatalf("alternate %v: import: %d\n%s%s", alternate, r.code, r.stdout, r.stderr)
		}
		before := len(sb.Requests())
		r = runReconcile(t, dir, env, "apply", "-auto-approve", "-f", "m.yaml")
		if r.code != 0 || !strings.Contains(r.stdout, "3 created") {
			t.Fatalf("alternate %v: apply: %d\n%s%s", alternate, r.code, r.stdout, r.stderr)
		}
		var paths []string
		for _, req := range sb.Requests()[before:] {
			// (A 429 is TomTicket counting import's reads of a moment ago.)
			// (customer/details: the canary's read-after-write checks.)
			if req.Provider == tomticket.Name && req.Status != 429 && !strings.HasSuffix(req.Path, "/customer/details") {
				paths = append(paths, strings.TrimPrefix(req.Path, tomticket.Service.SandboxPrefix))
			}
		}
		if len(paths) != 3 || strings.Count(strings.Join(paths, " "), "/customer/new") != 3 {
			t.Errorf("alternate %v: apply sent %v, want customer/new once per customer", alternate, paths)
		}
		if r := runReconcile(t, dir, env, "plan", "-f", "m.yaml", "-detailed-exitcode"); r.code != 0 {
			t.Errorf("alternate %v: plan after apply: %d\n%s", alternate, r.code, r.stdout)
		}
	}
}
