package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// reconcileCmd returns a command running reconcile (this test binary, see
// TestMain) in dir with env added.
func reconcileCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), mainEnv+"=1"), env...)
	return cmd
}

// plannedCalls runs `plan -json` and returns its calls as "METHOD PATH".
func plannedCalls(t *testing.T, dir string, env []string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := reconcileCmd(dir, env, "plan", "-json", "-f", "m.yaml")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("plan after the kill: %v\n%s", err, errb.String())
	}
	var doc struct {
		Changes []struct {
			Calls []struct{ Method, Path string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, out.String())
	}
	var calls []string
	for _, ch := range doc.Changes {
		for _, c := range ch.Calls {
			calls = append(calls, c.Method+" "+c.Path)
		}
	}
	return calls
}

// served returns the successful requests the sandbox's BonifiQ received, as
// "METHOD PATH" relative to the API root.
func served(sb *sandbox.Sandbox) []string {
	var out []string
	for _, r := range sb.Requests() {
		if r.Provider == "bonifiq" && r.Status >= 200 && r.Status < 300 {
			out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, bonifiq.Service.SandboxPrefix))
		}
	}
	return out
}

// minus returns the multiset a − b.
func minus(a, b []string) []string {
	count := map[string]int{}
	for _, s := range b {
		count[s]++
	}
	var out []string
	for _, s := range a {
		if count[s] > 0 {
			count[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

// TestCrashLosesNothing kills `reconcile apply` with SIGKILL at many moments
// against a slow sandbox. After each kill the state loads, the next plan lists
// exactly the calls the server did not receive, plus at most the calls that
// were in flight; and a final apply finishes the job. It runs with each state
// backend: the file, and PostgreSQL (a fresh workspace) when
// RECONCILE_TEST_PG names a database.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills many processes")
	}
	for _, bk := range stateBackends(t) {
		t.Run(bk.name, func(t *testing.T) {
			if bk.skip != "" {
				t.Skip(bk.skip)
			}
			testCrashLosesNothing(t, bk.env(t))
		})
	}
}

func testCrashLosesNothing(t *testing.T, stateEnv []string) {
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
	var m strings.Builder
	m.WriteString("providers:\n  bonifiq: {rate_limit: 1000, concurrency: 4}\ncustomers:\n")
	const customers = 60
	for i := range customers {
		fmt.Fprintf(&m, "  - id: \"c%03d\"\n    name: Customer %d\n    email: c%d@example.com\n    bonifiq: {enrolled: true, enabled: false, tier: {id: %d}}\n", i, i, i, 1+i%4)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	want := plannedCalls(t, dir, env)
	if len(want) != 3*customers {
		t.Fatalf("planned %d calls, want %d", len(want), 3*customers)
	}

	const parallelism, concurrency = 10, 4 // bonifiq's concurrency in m.yaml caps the calls in flight
	inFlightTotal := 0
	prev := want // what the plan listed before this round
	for round, step := range []int{1, 8, 20, 35, 30, 25, 15} {
		before := len(served(sb))
		cmd := reconcileCmd(dir, env, "apply", "-auto-approve", "-parallelism", fmt.Sprint(parallelism), "-f", "m.yaml")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(served(sb)) < before+step && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		time.Sleep(3 * sbLatency)  // let requests the kill cut off land
		got := served(sb)[before:] // what the server received in this round
		remaining := plannedCalls(t, dir, env)
		notReceived := minus(prev, got)
		if lost := minus(notReceived, remaining); len(lost) > 0 {
			t.Fatalf("round %d (killed after %d calls): the plan lost calls the server never received: %v", round, len(got), lost)
		}
		extra := minus(remaining, notReceived)
		if len(extra) > concurrency {
			t.Fatalf("round %d: the plan repeats %d calls the server received; at most %d were in flight: %v", round, len(extra), concurrency, extra)
		}
		inFlightTotal += len(extra)
		prev = remaining
		t.Logf("round %d: killed after %d served calls; %d remaining, %d of them in flight at the kill", round, before+len(got), len(remaining), len(extra))
	}

	// A last apply finishes the job, repeating nothing but the in-flight calls.
	out, err := reconcileCmd(dir, env, "apply", "-auto-approve", "-f", "m.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("final apply: %v\n%s", err, out)
	}
	if r := plannedCalls(t, dir, env); len(r) != 0 {
		t.Fatalf("after the final apply the plan still has %d calls: %v", len(r), r)
	}
	got := served(sb)
	if missing := minus(want, got); len(missing) > 0 {
		t.Fatalf("calls never made: %v", missing)
	}
	if dup := len(got) - len(want); dup > inFlightTotal {
		t.Fatalf("%d calls made twice, but only %d were in flight at the kills", dup, inFlightTotal)
	}
	for i := range customers {
		c, ok := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Customer(fmt.Sprintf("c%03d", i))
		if !ok || c.Name != fmt.Sprintf("Customer %d", i) {
			t.Fatalf("customer c%03d in the sandbox: %+v %v", i, c, ok)
		}
	}
}

const sbLatency = 20 * time.Millisecond
