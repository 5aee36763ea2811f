package main

// BenchmarkMillion measures "a million customers in constant memory": the
// plan of 1,000,000 customers, changed and empty, human and -json, and the
// apply of 1,000,000 one-call changes to the sandbox, each as a whole
// process, beside the floor measured in the same run. Run it (no script:
// the benchmark builds the binaries and generates every input in a
// temporary directory, and removes them at the end) with
//
//	go test ./cmd/reconcile -run XXX -bench Million -benchtime 3x -timeout 60m
//
// and smaller, to try it, with RECONCILE_BENCH_CUSTOMERS (default 1000000):
//
//	RECONCILE_BENCH_CUSTOMERS=20000 go test ./cmd/reconcile -run XXX -bench Million -benchtime 3x
//
// One part alone: -bench 'Million/plan/empty', -bench 'Million/apply'. With
// -benchtime 3x each part runs 4 times (once for b.N=1, then 3; the
// figures are of the 3). At a million customers the inputs and outputs
// take about 2 GB of disk (the CSV 82 MB, the states 342 and 155 MB, the
// empty plan's -json 850 MB), and on two shared cores the floors and plans
// take about 3 minutes and the apply about 2 minutes per run: 11 in all.
//
// Every process runs through testdata/launch, a small program that starts
// it, times it (wall: from its start to its exit) and reports its
// ru_maxrss: started straight from this benchmark, which holds hundreds of
// MB at a million customers, a child's ru_maxrss would be at least this
// process's RSS (Linux records the peak of the address space a child
// leaves at exec, and os/exec forks with CLONE_VM); from the launcher it
// is at least the launcher's, ~2.4 MB, less than any process measured.
//
// The sub-benchmarks, and what each reports besides ns/op (the mean wall
// time of its runs, and of the launcher). "MB" is MiB (2^20 bytes)
// throughout, and memory is the kernel's account of the process
// (ru_maxrss, /proc), not the Go heap:
//
//   - floor/changed, floor/empty: the floor, testdata/floor: a program
//     that reads the CSV with encoding/csv (ReuseRecord) and then scans
//     the state with a bufio.Scanner, nothing else (floor/empty: the CSV
//     alone, as the empty state has nothing to read). wall-s is the best
//     of every run of it in this process, and of at least 3: a plan
//     measured without its floor sub-benchmark (-bench Million/plan) runs
//     the floor 3 times first. maxrss-MB: the largest peak RSS.
//   - plan/changed/{human,json}: `reconcile plan` of the canonical CSV
//     (enginetest.WriteCSV: every customer in bonifiq and tomticket)
//     against a state holding all of them (2 entries each), 1% changed
//     (enginetest.WriteState(n, 100)); output to a file. Targets at 1M:
//     x-floor <= 4, maxrss-MB <= 600.
//   - plan/empty/{human,json}: the same CSV against no state: 2 creates per
//     customer. Targets at 1M: x-floor <= 8, maxrss-MB <= 1024, and json's
//     maxrss-MB no more than human's.
//
//     For each plan: wall-s, the best of its b.N runs; x-floor, wall-s over
//     the floor's wall-s; maxrss-MB, the largest peak RSS of the runs;
//     output-MB. The output's summary is checked.
//   - apply/sandbox: `reconcile apply -auto-approve` of the one-call
//     manifest (enginetest.WriteOneCallCSV: every customer in bonifiq only,
//     by name, e-mail and enrolled) against a state in which every
//     customer's e-mail is older (enginetest.WriteOneCallState): one update
//     of one call, a profile PUT, per customer. The calls go to the
//     built-in sandbox (providers/sandbox) served on loopback from this
//     benchmark's process, seeded with every customer as the state has it;
//     the manifest raises bonifiq's limits so that none binds (rate_limit
//     1e9/s, burst 64, concurrency 32, -parallelism 64, as
//     BenchmarkApplySandbox/unlimited). Targets at 1M: rss-end-MB <= 1.2 x
//     rss-after-plan-MB (end-x-plan <= 1.2), calls/s >= ~6,900.
//
//     How the memory is observed from outside the process: the sandbox's
//     handler reads the apply process's /proc/PID/status when requests
//     arrive. rss-after-plan-MB is its VmRSS when the first call reaches the
//     sandbox: the plan is made, printed and checked, the state saved and
//     the journal opened, and the process waits for that answer (a
//     service's first call goes alone): an exact moment, where polling
//     every 50 ms would sample somewhere near it.
//     rss-last-call-MB is its VmRSS when the last call arrives.
//     rss-end-MB is its peak RSS over its whole life, taken at its exit
//     (ru_maxrss, the same counter as /proc's VmHWM): the RSS "at the end"
//     that no transient spike can hide from, the final save included,
//     and never below rss-after-plan-MB. end-x-plan is their ratio. These
//     four are of the run with the largest end-x-plan.
//
//     calls/s: the requests the sandbox received, less one, over the time
//     from the first's arrival to the last's: the rate of the calls alone,
//     not of the plan before them (plan-s: from the start of the process to
//     the first call) or the save after them; the best of the runs. wall-s:
//     the whole process, best of the runs. requests: what the sandbox
//     received in the run whose memory is reported (the benchmark fails on
//     fewer than one per customer, or on any outcome but "Apply
//     complete!").
//
// The machine is shared and noisy: compare best-of figures, and the ratios,
// which the floor measured in the same run makes comparable across runs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// benchCustomersEnv sets BenchmarkMillion's number of customers.
const benchCustomersEnv = "RECONCILE_BENCH_CUSTOMERS"

// The one-call apply's limits: high enough that none binds.
const (
	oneCallProviders = `# BenchmarkMillion's one-call apply: no limit binds.
providers:
  bonifiq:
    rate_limit: 1000000000
    burst: 64
    concurrency: 32
`
	oneCallParallelism = "64"
)

// BenchmarkMillion: see the comment at the top of this file.
func BenchmarkMillion(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv(benchCustomersEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(strings.ReplaceAll(v, "_", "")); err != nil || n < 1 {
			b.Fatalf("%s=%q: want a number of customers", benchCustomersEnv, v)
		}
	}
	m := &million{n: n, dir: b.TempDir(), floors: map[string]*floorBest{}}
	m.bin = buildBinary(b, m.dir, "reconcile", ".")
	m.floorBin = buildBinary(b, m.dir, "floor", "./testdata/floor")
	m.launch = newLauncher(b, m.dir)

	for _, kind := range []string{"changed", "empty"} {
		b.Run("floor/"+kind, func(b *testing.B) {
			args := m.floorArgs(b, kind)
			fb := m.floor(kind)
			b.ResetTimer()
			for range b.N {
				p := m.launch.run(b, m.floorBin, args, nil, filepath.Join(m.dir, "floor.out"))
				fb.add(p)
			}
			b.StopTimer()
			b.ReportMetric(fb.best.Seconds(), "wall-s")
			b.ReportMetric(kib2MiB(fb.maxRSS), "maxrss-MB")
		})
	}
	for _, kind := range []string{"changed", "empty"} {
		for _, view := range []string{"human", "json"} {
			b.Run("plan/"+kind+"/"+view, func(b *testing.B) {
				m.planBench(b, kind, view)
			})
		}
	}
	b.Cleanup(func() {
		if m.apply != nil {
			m.apply.close()
		}
	})
	b.Run("apply/sandbox", m.applyBench)
}

// million is one BenchmarkMillion run: its inputs, made when first needed,
// and the floors measured.
type million struct {
	n             int
	dir           string
	bin, floorBin string
	launch        launcher

	csv, state string // the canonical CSV and its state, 1% changed
	floors     map[string]*floorBest
	apply      *oneCallApply
}

// floorBest is the best of a floor's runs.
type floorBest struct {
	runs   int
	best   time.Duration
	maxRSS int64 // KiB
}

func (f *floorBest) add(p procResult) {
	if f.runs == 0 || p.wall < f.best {
		f.best = p.wall
	}
	f.maxRSS = max(f.maxRSS, p.maxRSS)
	f.runs++
}

func (m *million) floor(kind string) *floorBest {
	if m.floors[kind] == nil {
		m.floors[kind] = &floorBest{}
	}
	return m.floors[kind]
}

// floorArgs returns the floor's arguments for kind: the CSV, and for
// "changed" the state.
func (m *million) floorArgs(b *testing.B, kind string) []string {
	m.planInputs(b)
	if kind == "empty" {
		return []string{m.csv}
	}
	return []string{m.csv, m.state}
}

// floorWall returns the floor's best wall time for kind, running it first
// until it has run 3 times.
func (m *million) floorWall(b *testing.B, kind string) time.Duration {
	fb := m.floor(kind)
	for fb.runs < 3 {
		fb.add(m.launch.run(b, m.floorBin, m.floorArgs(b, kind), nil, filepath.Join(m.dir, "floor.out")))
	}
	return fb.best
}

// planInputs writes the canonical CSV and state once.
func (m *million) planInputs(b *testing.B) {
	if m.csv != "" {
		return
	}
	csvPath := filepath.Join(m.dir, "customers.csv")
	statePath := filepath.Join(m.dir, "state.json")
	if err := enginetest.WriteCSV(csvPath, m.n); err != nil {
		b.Fatal(err)
	}
	if err := enginetest.WriteStateFile(statePath, m.n, 100); err != nil {
		b.Fatal(err)
	}
	m.csv, m.state = csvPath, statePath
}

// planBench runs `reconcile plan` of kind (changed, empty) with view
// (human, json) b.N times.
func (m *million) planBench(b *testing.B, kind, view string) {
	m.planInputs(b)
	statePath, want := m.state, fmt.Sprintf("0 to create, %d to update", 2*((m.n+99)/100))
	if kind == "empty" {
		statePath, want = filepath.Join(m.dir, "empty", "state.json"), fmt.Sprintf("%d to create, 0 to update", 2*m.n)
		if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	args := []string{"plan", "-f", m.csv, "-state", statePath, "-no-color"}
	if view == "json" {
		args = append(args, "-json")
		want = fmt.Sprintf(`"summary": {"create":%d,"update":%d,`, 2*m.n, 0)
		if kind == "changed" {
			want = fmt.Sprintf(`"summary": {"create":0,"update":%d,`, 2*((m.n+99)/100))
		}
	}
	floor := m.floorWall(b, kind)
	out := filepath.Join(m.dir, "plan.out")
	var best time.Duration
	var maxRSS int64
	b.ResetTimer()
	for i := range b.N {
		p := m.launch.run(b, m.bin, args, nil, out)
		if i == 0 || p.wall < best {
			best = p.wall
		}
		maxRSS = max(maxRSS, p.maxRSS)
	}
	b.StopTimer()
	size, tail := fileTail(b, out, 4096)
	if !strings.Contains(tail, want) {
		b.Fatalf("the plan's output does not end with a summary saying %q:\n%s", want, tail)
	}
	b.ReportMetric(best.Seconds(), "wall-s")
	b.ReportMetric(best.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(kib2MiB(maxRSS), "maxrss-MB")
	b.ReportMetric(float64(size)/(1<<20), "output-MB")
}

// oneCallApply is the apply benchmark's inputs and sandbox.
type oneCallApply struct {
	n         int
	dir       string // the manifests: customers.csv and providers.yaml
	template  string // the state every run starts from
	env       []string
	watch     atomic.Pointer[callWatch]
	srv       *http.Server
	serverErr chan error
}

// applyBench runs `reconcile apply` of n one-call changes to the sandbox.
func (m *million) applyBench(b *testing.B) {
	if m.apply == nil {
		a, err := newOneCallApply(m.dir, m.n)
		if err != nil {
			b.Fatal(err)
		}
		m.apply = a // closed by BenchmarkMillion: b is one of this sub-benchmark's runs
	}
	a := m.apply
	var best applyResult
	var worst applyResult // the run with the largest end-x-plan
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		runDir := filepath.Join(m.dir, fmt.Sprintf("apply-run-%d", i))
		statePath := a.prepare(b, runDir)
		b.StartTimer()
		r := a.run(b, m.launch, m.bin, nil, statePath)
		b.StopTimer()
		if i == 0 || r.callsPerSec > best.callsPerSec {
			best.callsPerSec = r.callsPerSec
		}
		if i == 0 || r.proc.wall < best.proc.wall {
			best.proc.wall = r.proc.wall
		}
		if i == 0 || r.planTime < best.planTime {
			best.planTime = r.planTime
		}
		if i == 0 || r.endXPlan() > worst.endXPlan() {
			worst = r
		}
		os.RemoveAll(runDir)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(best.callsPerSec, "calls/s")
	b.ReportMetric(kib2MiB(worst.rssAfterPlan), "rss-after-plan-MB")
	b.ReportMetric(kib2MiB(worst.rssLastCall), "rss-last-call-MB")
	b.ReportMetric(kib2MiB(worst.proc.maxRSS), "rss-end-MB")
	b.ReportMetric(worst.endXPlan(), "end-x-plan")
	b.ReportMetric(best.planTime.Seconds(), "plan-s")
	b.ReportMetric(best.proc.wall.Seconds(), "wall-s")
	b.ReportMetric(float64(worst.requests), "requests")
}

// newOneCallApply writes the one-call manifests and state under dir and
// serves a sandbox seeded with every customer on loopback.
func newOneCallApply(dir string, n int) (*oneCallApply, error) {
	a := &oneCallApply{n: n, dir: filepath.Join(dir, "one-call"), template: filepath.Join(dir, "one-call-state.json")}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, err
	}
	if err := enginetest.WriteOneCallCSV(filepath.Join(a.dir, "customers.csv"), n); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(a.dir, "providers.yaml"), []byte(oneCallProviders), 0o600); err != nil {
		return nil, err
	}
	if err := enginetest.WriteOneCallStateFile(a.template, n); err != nil {
		return nil, err
	}
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		return nil, err
	}
	sim := bonifiq.SimOf(sb.Sim("bonifiq"))
	for i := range n {
		e := enginetest.OneCallEntry(i)
		name, _ := e.Fields.Get("name")
		email, _ := e.Fields.Get("email")
		enrolled, _ := e.Fields.Get("enrolled")
		if err := sim.Edit(e.ID, true, func(c *bonifiq.Customer) {
			c.Name, c.Email, c.IsEnrolled = name.S, &email.S, enrolled.S == "true"
		}); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a.watch.Store(&callWatch{})
	next := sb.Handler()
	a.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.watch.Load().arrived()
		next.ServeHTTP(w, r)
	})}
	a.serverErr = make(chan error, 1)
	go func() { a.serverErr <- a.srv.Serve(ln) }()
	a.env = sb.Env("http://" + ln.Addr().String())
	return a, nil
}

func (a *oneCallApply) close() {
	a.srv.Close()
	<-a.serverErr
}

// applyResult is one apply run's measurements.
type applyResult struct {
	proc         procResult
	requests     int64
	callsPerSec  float64
	planTime     time.Duration // from the start to the first call
	rssAfterPlan int64         // KiB, VmRSS at the first call
	rssLastCall  int64         // KiB, VmRSS at the last call
}

func (r applyResult) endXPlan() float64 {
	if r.rssAfterPlan <= 0 {
		return 0
	}
	return float64(r.proc.maxRSS) / float64(r.rssAfterPlan)
}

// prepare copies the template state into runDir, for a run.
func (a *oneCallApply) prepare(tb testing.TB, runDir string) (statePath string) {
	tb.Helper()
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	statePath = filepath.Join(runDir, "state.json")
	if err := copyFile(a.template, statePath); err != nil {
		tb.Fatal(err)
	}
	return statePath
}

// run applies the one-call manifests with bin (extra environment: env) to
// the state at statePath (prepare's), its output beside it, and checks
// that it made every call and completed.
func (a *oneCallApply) run(tb testing.TB, l launcher, bin string, env []string, statePath string) applyResult {
	tb.Helper()
	w := &callWatch{want: int64(a.n)}
	a.watch.Store(w)
	args := []string{"apply", "-auto-approve", "-no-color", "-parallelism", oneCallParallelism, "-f", a.dir, "-state", statePath}
	out := filepath.Join(filepath.Dir(statePath), "apply.out")
	p := l.runStarted(tb, bin, args, append(append(env, a.env...), "RECONCILE_LOG="), out, func(pid int) { w.pid.Store(int64(pid)) })
	a.watch.Store(&callWatch{}) // later requests (none expected) are not this run's
	_, tail := fileTail(tb, out, 4096)
	if want := fmt.Sprintf("Apply complete! 0 created, %d updated,", a.n); !strings.Contains(tail, want) {
		tb.Fatalf("apply did not say %q:\n%s", want, tail)
	}
	r := applyResult{proc: p, requests: w.count.Load(), rssAfterPlan: w.rssFirst.Load(), rssLastCall: w.rssLast.Load()}
	if r.requests < int64(a.n) {
		tb.Fatalf("the sandbox received %d requests for %d one-call changes", r.requests, a.n)
	}
	if r.rssAfterPlan <= 0 || r.rssLastCall <= 0 {
		tb.Fatalf("no RSS sample of the apply process at its first or last call (%d, %d KiB)", r.rssAfterPlan, r.rssLastCall)
	}
	first, last := time.Unix(0, w.first.Load()), time.Unix(0, w.last.Load())
	if d := last.Sub(first); d > 0 {
		r.callsPerSec = float64(r.requests-1) / d.Seconds()
	}
	r.planTime = first.Sub(p.start)
	return r
}

// callWatch counts the requests the sandbox receives during one apply, and
// reads the apply process's VmRSS at the first and at the want-th.
type callWatch struct {
	want        int64
	pid         atomic.Int64
	count       atomic.Int64
	first, last atomic.Int64 // arrivals, Unix nanoseconds
	rssFirst    atomic.Int64 // KiB
	rssLast     atomic.Int64 // KiB
}

func (w *callWatch) arrived() {
	now := time.Now().UnixNano()
	k := w.count.Add(1)
	if k == 1 {
		w.first.Store(now)
		w.rssFirst.Store(vmRSS(int(w.pid.Load())))
	}
	for {
		old := w.last.Load()
		if now <= old || w.last.CompareAndSwap(old, now) {
			break
		}
	}
	if k == w.want {
		w.rssLast.Store(vmRSS(int(w.pid.Load())))
	}
}

// vmRSS returns the resident set size of process pid in KiB (VmRSS in
// /proc/PID/status), or -1.
func vmRSS(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kib
		}
	}
	return -1
}

// procResult is one whole process's measurements.
type procResult struct {
	start  time.Time
	wall   time.Duration // from starting it to its exit
	maxRSS int64         // KiB, ru_maxrss
}

// launcher runs processes through testdata/launch (the path of its
// binary), which measures them; see that program for why.
type launcher string

func newLauncher(tb testing.TB, dir string) launcher {
	return launcher(buildBinary(tb, dir, "launch", "./testdata/launch"))
}

// run runs bin with args (and env added to this process's environment),
// its stdout to the file out and its stderr to out+".err", and fails tb if
// it does not exit 0.
func (l launcher) run(tb testing.TB, bin string, args, env []string, out string) procResult {
	tb.Helper()
	return l.runStarted(tb, bin, args, env, out, nil)
}

// runStarted is run, calling started with the process's pid once it runs.
func (l launcher) runStarted(tb testing.TB, bin string, args, env []string, out string, started func(pid int)) procResult {
	tb.Helper()
	cmd := exec.Command(string(l), append([]string{out, out + ".err", bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	report, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var p procResult
	var pid, code int
	var startNs, wallNs int64
	lines := bufio.NewScanner(report)
	if lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "pid %d start %d", &pid, &startNs); err == nil && started != nil {
			started(pid)
		}
	}
	var last string
	for lines.Scan() {
		last = lines.Text()
	}
	if err := cmd.Wait(); err != nil {
		tb.Fatalf("launch %s: %v\n%s", filepath.Base(bin), err, stderr.Bytes())
	}
	if _, err := fmt.Sscanf(last, "exit %d wall-ns %d maxrss-kib %d", &code, &wallNs, &p.maxRSS); err != nil || pid == 0 {
		tb.Fatalf("launch %s: no report (%q): %v", filepath.Base(bin), last, err)
	}
	p.start, p.wall = time.Unix(0, startNs), time.Duration(wallNs)
	if code != 0 {
		_, outTail := fileTail(tb, out, 2048)
		_, errTail := fileTail(tb, out+".err", 2048)
		tb.Fatalf("%s %s: exit status %d\nstdout: ...%s\nstderr: ...%s", filepath.Base(bin), strings.Join(args, " "), code, outTail, errTail)
	}
	return p
}

// buildBinary builds the package at pkg (relative to cmd/reconcile) into
// dir/name.
func buildBinary(tb testing.TB, dir, name, pkg string) string {
	tb.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// fileTail returns the size of the file at path and its last n bytes.
func fileTail(tb testing.TB, path string, n int64) (int64, string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	off := max(0, fi.Size()-n)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		tb.Fatal(err)
	}
	return fi.Size(), string(bytes.ToValidUTF8(b, nil))
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func kib2MiB(kib int64) float64 { return float64(kib) / 1024 }

// TestBenchOneCallPlan checks BenchmarkMillion/apply's premise on a small
// plan: every customer of the one-call manifests is one update of one call.
func TestBenchOneCallPlan(t *testing.T) {
	const n = 250
	dir := t.TempDir()
	a, err := newOneCallApply(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var stdout, stderr bytes.Buffer
	args := []string{"plan", "-json", "-f", a.dir, "-state", a.template}
	if code := run(context.Background(), args, nil, &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr.String())
	}
	var plan struct {
		Changes []struct {
			Address, Provider, Action string
			Calls                     []json.RawMessage
		}
		Summary map[string]int
	}
	if err := json.Unmarshal(stdout.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, ch := range plan.Changes {
		if ch.Provider != "bonifiq" || ch.Action != "update" || len(ch.Calls) != 1 {
			t.Errorf("%s: %s %s with %d calls, want a bonifiq update of one call", ch.Address, ch.Provider, ch.Action, len(ch.Calls))
		}
		calls += len(ch.Calls)
	}
	if len(plan.Changes) != n || calls != n || plan.Summary["update"] != n || plan.Summary["create"] != 0 {
		t.Fatalf("%d changes, %d calls, summary %v; want %d updates of one call each", len(plan.Changes), calls, plan.Summary, n)
	}
}

// TestBenchApplyHarness runs BenchmarkMillion/apply's measurement once,
// small, with this test binary as reconcile: one request per customer
// reaches the sandbox, the memory samples are taken, and a plan afterwards
// finds nothing left to do.
func TestBenchApplyHarness(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	a, err := newOneCallApply(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	statePath := a.prepare(t, filepath.Join(dir, "run"))
	r := a.run(t, newLauncher(t, dir), exe, []string{mainEnv + "=1"}, statePath)
	t.Logf("%+v", r)
	if r.requests != n || r.callsPerSec <= 0 || r.planTime <= 0 || r.proc.maxRSS < r.rssAfterPlan || r.endXPlan() < 1 {
		t.Fatalf("implausible measurements: %+v", r)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"plan", "-detailed-exitcode", "-f", a.dir, "-state", statePath}
	if code := run(context.Background(), args, nil, &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("plan after the apply: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestBenchFloor builds and runs BenchmarkMillion's floor on small files.
func TestBenchFloor(t *testing.T) {
	dir := t.TempDir()
	csvPath, statePath := filepath.Join(dir, "c.csv"), filepath.Join(dir, "s.json")
	if err := enginetest.WriteCSV(csvPath, 5); err != nil {
		t.Fatal(err)
	}
	if err := enginetest.WriteStateFile(statePath, 5, 2); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t, dir, "floor", "./testdata/floor")
	l := newLauncher(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{csvPath}, "6 records, 42 cells; 0 state lines, 0 bytes\n"},
		{[]string{csvPath, statePath}, "6 records, 42 cells; 11 state lines, "},
	} {
		out := filepath.Join(dir, "floor.out")
		if p := l.run(t, bin, tc.args, nil, out); p.wall <= 0 || p.maxRSS <= 0 {
			t.Errorf("implausible measurements: %+v", p)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), tc.want) {
			t.Errorf("floor %v: %q, want %q", tc.args, b, tc.want)
		}
	}
}
