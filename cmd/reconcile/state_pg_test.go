package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/engine/state/pg"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// writeManifest writes m.yaml with n bonifiq customers, 3 calls each.
func writeManifest(t *testing.T, dir string, n int) {
	t.Helper()
	var m strings.Builder
	m.WriteString("providers:\n  bonifiq: {rate_limit: 1000, concurrency: 4}\ncustomers:\n")
	for i := range n {
		fmt.Fprintf(&m, "  - id: \"c%03d\"\n    name: Customer %d\n    email: c%d@example.com\n    bonifiq: {enrolled: true, enabled: false, tier: {id: %d}}\n", i, i, i, 1+i%4)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stateHeader returns the lineage and serial of the state env names, read
// with `state pull`.
func stateHeader(t *testing.T, dir string, env []string) (string, int64) {
	t.Helper()
	out, err := reconcileCmd(dir, env, "state", "pull").Output()
	if err != nil {
		t.Fatalf("state pull: %v", err)
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	var h struct {
		Lineage string `json:"lineage"`
		Serial  int64  `json:"serial"`
	}
	if err := json.Unmarshal(line, &h); err != nil {
		t.Fatalf("state pull header %q: %v", line, err)
	}
	return h.Lineage, h.Serial
}

// TestConcurrentApply starts two `reconcile apply` processes on one state:
// the second, started while the first is making calls, fails at once naming
// the holder, or with -lock-timeout waits and then finds nothing to do. No
// call is made twice and no write is lost.
func TestConcurrentApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts reconcile processes")
	}
	for _, bk := range stateBackends(t) {
		for _, wait := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/wait=%v", bk.name, wait), func(t *testing.T) {
				if bk.skip != "" {
					t.Skip(bk.skip)
				}
				testConcurrentApply(t, bk.env(t), wait)
			})
		}
	}
}

func testConcurrentApply(t *testing.T, stateEnv []string, wait bool) {
	sb, err := sandbox.New(sandbox.Options{Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	env := append(sb.Env(base), stateEnv...)
	dir := t.TempDir()
	const customers = 40
	writeManifest(t, dir, customers)
	want := plannedCalls(t, dir, env)

	first := reconcileCmd(dir, env, "apply", "-auto-approve", "-f", "m.yaml")
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// The first holds the lock once it makes calls.
	deadline := time.Now().Add(30 * time.Second)
	for len(served(sb)) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	args := []string{"apply", "-auto-approve", "-f", "m.yaml"}
	if wait {
		args = append(args, "-lock-timeout", "2m")
	}
	out2, err2 := reconcileCmd(dir, env, args...).CombinedOutput()
	if err := first.Wait(); err != nil {
		t.Fatalf("first apply: %v\n%s", err, out1.String())
	}
	if wait {
		if err2 != nil || !strings.Contains(string(out2), "No changes.") {
			t.Fatalf("second apply, waiting for the lock: %v; want it to find nothing to do:\n%s", err2, out2)
		}
	} else {
		if err2 == nil {
			t.Fatalf("second apply succeeded while the first held the lock:\n%s", out2)
		}
		if !strings.Contains(string(out2), `Error: state is locked: ID `) || !strings.Contains(string(out2), `for "apply" since`) || !strings.Contains(string(out2), "reconcile force-unlock ") {
			t.Fatalf("second apply's message does not name the holder:\n%s", out2)
		}
	}
	if r := plannedCalls(t, dir, env); len(r) != 0 {
		t.Fatalf("after both applies the plan still has %d calls: %v", len(r), r)
	}
	got := served(sb)
	if d := minus(got, want); len(d) > 0 || len(got) != len(want) {
		t.Fatalf("the services received %d calls, want the %d planned (extra: %v, missing: %v)", len(got), len(want), d, minus(want, got))
	}
	// One apply made changes: a save before its first call, one after.
	if _, serial := stateHeader(t, dir, env); serial != 2 {
		t.Errorf("final serial %d, want 2", serial)
	}
}

// runCLI runs reconcile in-process with env (on top of nothing: only what
// env says) and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestPgStateFlagAndEnvironment(t *testing.T) {
	url := testPG(t)
	ws := freshWorkspace(t)
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "s.json")
	s := stateWith(t, "bonifiq/1", "tomticket/2")
	writeStateFile(t, file, s)

	// push: into the workspace named by -workspace, the URL from the
	// environment.
	env := map[string]string{"RECONCILE_STATE": url}
	code, out, errs := runCLI(t, env, "-workspace", ws, "state", "push", file)
	if code != 0 || !strings.Contains(out, "Pushed "+file+" to the state postgres://") || !strings.Contains(out, fmt.Sprintf("(workspace %q): lineage %s, serial 4, 2 addresses", ws, s.Lineage)) {
		t.Fatalf("push: %d\n%s%s", code, out, errs)
	}
	// The flag wins over the environment; RECONCILE_WORKSPACE names the workspace.
	code, out, errs = runCLI(t, map[string]string{"RECONCILE_STATE": "elsewhere.json", "RECONCILE_WORKSPACE": ws}, "-state", url, "state", "list")
	if code != 0 || out != "bonifiq/1\ntomticket/2\n" {
		t.Fatalf("state list: %d %q %s", code, out, errs)
	}
	// Another workspace is another state.
	code, out, _ = runCLI(t, env, "-workspace", ws+"-other", "state", "list")
	if code != 0 || out != "" {
		t.Fatalf("another workspace lists %q (%d)", out, code)
	}

	// pull to stdout and to a file.
	code, out, errs = runCLI(t, env, "-workspace", ws, "state", "pull")
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf(`{"format_version":"1","lineage":%q,"serial":4,"resources":2}`, s.Lineage)) {
		t.Fatalf("pull to stdout: %d\n%s%s", code, out, errs)
	}
	pulled := filepath.Join(dir, "pulled.json")
	if code, out, errs = runCLI(t, env, "-workspace", ws, "state", "pull", pulled); code != 0 {
		t.Fatalf("pull: %d\n%s%s", code, out, errs)
	}
	got := readStateFile(t, pulled)
	if got.Lineage != s.Lineage || got.Serial != 4 || len(got.Resources) != 2 {
		t.Fatalf("pulled %+v", got)
	}
	if fi, err := os.Stat(pulled); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pulled file mode: %v %v", fi.Mode(), err)
	}

	// Another lineage is refused both ways without -force.
	other := stateWith(t, "bonifiq/9")
	otherFile := filepath.Join(dir, "other.json")
	writeStateFile(t, otherFile, other)
	code, _, errs = runCLI(t, env, "-workspace", ws, "state", "push", otherFile)
	if code != 1 || !strings.Contains(errs, "another lineage") || !strings.Contains(errs, "-force") {
		t.Fatalf("push of another lineage: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, env, "-workspace", ws, "state", "pull", otherFile)
	if code != 1 || !strings.Contains(errs, "another lineage") {
		t.Fatalf("pull over another lineage: %d %s", code, errs)
	}
	if code, out, errs = runCLI(t, env, "-workspace", ws, "state", "push", "-force", otherFile); code != 0 {
		t.Fatalf("push -force: %d %s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, env, "-workspace", ws, "state", "list")
	if code != 0 || out != "bonifiq/9\n" {
		t.Fatalf("after push -force: %q", out)
	}
	// An older state of the same lineage is refused too.
	other.Serial = 1
	writeStateFile(t, otherFile, other)
	if code, _, errs = runCLI(t, env, "-workspace", ws, "state", "push", otherFile); code != 1 || !strings.Contains(errs, "older") {
		t.Fatalf("push of an older serial: %d %s", code, errs)
	}
}

func TestPgStateMessages(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"password in the URL", nil, []string{"-state", "postgres://alice:s3cret@db.example/reconcile", "state", "list"},
			"Error: state postgres://alice@db.example/reconcile: the URL carries a password; remove it and give the password in PGPASSWORD"},
		{"password in the environment's URL", map[string]string{"RECONCILE_STATE": "postgresql://alice:s3cret@db.example/reconcile"}, []string{"state", "list"},
			"Error: state postgresql://alice@db.example/reconcile: the URL carries a password"},
		{"server down", map[string]string{"PGPASSWORD": "s3cret"}, []string{"-state", "postgres://alice@127.0.0.1:1/ledger", "-workspace", "team", "state", "list"},
			`Error: state postgres://alice@127.0.0.1:1/ledger (workspace "team"): cannot connect: `},
		{"workspace with a file", nil, []string{"-workspace", "team", "state", "list"},
			`Error: -workspace "team": workspaces are for a PostgreSQL state (-state postgres://...); the state reconcile.state.json is a file`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tt.env, tt.args...)
			if code != 1 || !strings.HasPrefix(errs, tt.want) || strings.Contains(errs, "s3cret") || strings.Count(errs, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want one line starting %q, without the password", code, errs, tt.want)
			}
		})
	}
}

func TestPgLockedMessageAndForceUnlock(t *testing.T) {
	url := testPG(t)
	ws := freshWorkspace(t)
	env := map[string]string{"RECONCILE_STATE": url, "RECONCILE_WORKSPACE": ws}
	b, err := pg.Open(url, ws)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Unlock()
	code, _, errs := runCLI(t, env, "state", "rm", "bonifiq/1")
	if code != 1 || !strings.Contains(errs, `Error: state is locked: ID `) || !strings.Contains(errs, `for "apply"`) {
		t.Fatalf("state rm while locked: %d %s", code, errs)
	}
	id := strings.Fields(strings.TrimPrefix(errs, "Error: state is locked: ID "))[0]
	id = strings.TrimSuffix(id, ",")
	code, out, errs := runCLI(t, env, "force-unlock", "-force", id)
	if code != 0 || !strings.Contains(out, "has been unlocked") {
		t.Fatalf("force-unlock: %d %s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, env, "-lock-timeout", "10s", "state", "rm", "bonifiq/1")
	if code != 1 || !strings.Contains(errs, "not in the state: bonifiq/1") {
		t.Fatalf("state rm after force-unlock: %d %s%s", code, out, errs)
	}
}

func stateWith(t *testing.T, addrs ...string) *engine.State {
	t.Helper()
	s := engine.NewState()
	for _, a := range addrs {
		p, id, _ := strings.Cut(a, "/")
		s.Resources[a] = &engine.Entry{Provider: p, ID: id}
	}
	s.Serial = 3
	return s
}

func writeStateFile(t *testing.T, path string, s *engine.State) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := state.Write(f, s); err != nil {
		t.Fatal(err)
	}
}

func readStateFile(t *testing.T, path string) *engine.State {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := state.Read(t.Context(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
