// Command mutator runs the mutation pass of issue 17 on demand: gremlins'
// comparison, boolean and arithmetic flips, then its own error→nil and
// statement-removal mutants one at a time, and prints the score per package
// and per file for both kinds, with the survivors.
//
//	go run ./testdata/mutation/mutator [-with-cli] [-kinds gremlins,ast] [PACKAGE...]
//
// PACKAGE is a folder relative to the module root (engine/state); the
// default is engine, engine/state and the three providers. Each mutant of
// its own is compiled through `go test -overlay`, so the tree is never
// modified. Mutants listed in testdata/mutation/equivalent.txt
// (FILE:LINE:KIND and a reason) are judged equivalent and left out of the
// score. Not part of .ci/run: it takes tens of minutes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	statusKilled     = "killed"
	statusSurvived   = "survived"
	statusTimedOut   = "timed out"
	statusNotViable  = "not viable"
	statusNotCovered = "not covered"
	statusEquivalent = "equivalent"
)

var defaultPackages = []string{"engine", "engine/state", "providers/bonifiq", "providers/invisiblecollector", "providers/tomticket"}

func main() {
	withCLI := flag.Bool("with-cli", false, "also run ./cmd/reconcile's tests against each mutant its package's tests leave alive")
	kinds := flag.String("kinds", "gremlins,ast", "which passes to run: gremlins, ast, or both")
	timeout := flag.Duration("timeout", 0, "time allowed to one mutant's test run (default: 5 times the package's clean run, at least 1m)")
	files := flag.String("files", "", "comma-separated file names (file.go) to mutate; default: every non-test file of each package")
	equivalent := flag.String("equivalent", "testdata/mutation/equivalent.txt", "the list of mutants judged equivalent, relative to the module root")
	shared := flag.String("shared", "../shared", "the shared folder the tests read, relative to the module root")
	workers := flag.Int("workers", 1, "gremlins workers (the machine is shared: keep it low)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, options{
		withCLI: *withCLI, kinds: *kinds, timeout: *timeout, files: *files,
		equivalent: *equivalent, shared: *shared, workers: *workers, pkgs: flag.Args(),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "mutator:", err)
		os.Exit(1)
	}
}

type options struct {
	withCLI            bool
	kinds, files       string
	equivalent, shared string
	timeout            time.Duration
	workers            int
	pkgs               []string
}

func run(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	shared := o.shared
	if !filepath.IsAbs(shared) {
		shared = filepath.Join(root, shared)
	}
	if _, err := os.Stat(shared); err != nil {
		return fmt.Errorf("the tests need %s: %w", shared, err)
	}
	equiv, err := readEquivalent(filepath.Join(root, o.equivalent))
	if err != nil {
		return err
	}
	pkgs := o.pkgs
	if len(pkgs) == 0 {
		pkgs = defaultPackages
	}
	var only map[string]bool
	if o.files != "" {
		only = map[string]bool{}
		for _, f := range strings.Split(o.files, ",") {
			only[strings.TrimSpace(f)] = true
		}
	}
	doGremlins, doAST := strings.Contains(o.kinds, "gremlins"), strings.Contains(o.kinds, "ast")
	work, err := os.MkdirTemp("", "mutation-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var all []*mutant
	for _, pkg := range pkgs {
		pkg = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(pkg)), "/")
		r := &runner{root: root, pkg: pkg, work: work, withCLI: o.withCLI}
		if err := r.baseline(ctx, o.timeout); err != nil {
			return err
		}
		if doGremlins {
			ms, err := r.gremlins(ctx, shared, o.workers, only)
			if err != nil {
				return err
			}
			all = append(all, filter(ms, only, equiv)...)
		}
		if doAST {
			ms, err := r.ast(ctx, only, equiv)
			if err != nil {
				return err
			}
			all = append(all, ms...)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	report(os.Stdout, all, equiv)
	return nil
}

// runner runs one package's tests against mutants.
type runner struct {
	root, pkg, work string
	withCLI         bool
	timeout         time.Duration
	n               int
}

// baseline runs the package's tests once, unmutated: they must pass, and
// their time sets the per-mutant timeout.
func (r *runner) baseline(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "%s: clean run of its tests\n", r.pkg)
	pkgs := []string{"./" + r.pkg}
	if r.withCLI {
		pkgs = append(pkgs, "./cmd/reconcile")
	}
	st, out := r.goTest(ctx, "", 30*time.Minute, append([]string{"-count=1"}, pkgs...)...)
	if st != statusSurvived {
		return fmt.Errorf("%s: the tests fail without any mutant (%s):\n%s", r.pkg, st, out)
	}
	r.timeout = timeout
	if r.timeout == 0 {
		r.timeout = max(time.Minute, 5*time.Since(start))
	}
	return nil
}

func (r *runner) gremlins(ctx context.Context, shared string, workers int, only map[string]bool) ([]*mutant, error) {
	bin, err := gremlinsBinary(ctx, r.root)
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(r.work, strings.ReplaceAll(r.pkg, "/", "_")+".gremlins.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	fmt.Fprintf(os.Stderr, "%s: gremlins\n", r.pkg)
	ms, err := runGremlins(ctx, bin, r.root, r.pkg, shared, workers, only, log)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		switch {
		case m.start < 0:
		case m.status == statusNotCovered:
			// gremlins' coverage leaves out constants (100 * time.Millisecond),
			// which tests do reach: run them here.
			m.status = r.try(ctx, m, false)
		case m.status == statusSurvived && r.withCLI:
			// gremlins ran the package's tests only: try the CLI's.
			m.status = r.try(ctx, m, true)
		}
	}
	return ms, nil
}

// ast makes and runs the error→nil and removal mutants of every non-test
// file of the package, one at a time.
func (r *runner) ast(ctx context.Context, only map[string]bool, equiv map[string]string) ([]*mutant, error) {
	ents, err := os.ReadDir(filepath.Join(r.root, r.pkg))
	if err != nil {
		return nil, err
	}
	var ms []*mutant
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || (only != nil && !only[name]) {
			continue
		}
		fms, err := astMutants(r.root, r.pkg+"/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, fms...)
	}
	for i, m := range ms {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, ok := equiv[m.key()]; ok {
			m.status = statusEquivalent
			continue
		}
		m.status = r.try(ctx, m, false)
		fmt.Fprintf(os.Stderr, "%s [%d/%d] %s:%d %s %s: %s\n", r.pkg, i+1, len(ms), m.file, m.line, m.kind, m.what, m.status)
	}
	return ms, nil
}

// try runs the tests against m through an overlay; cliOnly skips the
// package's own tests (gremlins ran them).
func (r *runner) try(ctx context.Context, m *mutant, cliOnly bool) string {
	src, err := os.ReadFile(filepath.Join(r.root, m.file))
	if err != nil {
		return "error: " + err.Error()
	}
	r.n++
	dir := filepath.Join(r.work, "m"+strconv.Itoa(r.n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "error: " + err.Error()
	}
	defer os.RemoveAll(dir)
	mutated := filepath.Join(dir, filepath.Base(m.file))
	if err := os.WriteFile(mutated, m.apply(src), 0o644); err != nil {
		return "error: " + err.Error()
	}
	overlay := filepath.Join(dir, "overlay.json")
	b, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(r.root, m.file): mutated}})
	if err := os.WriteFile(overlay, b, 0o644); err != nil {
		return "error: " + err.Error()
	}
	if !cliOnly {
		if st, _ := r.goTest(ctx, overlay, r.timeout, "./"+r.pkg); st != statusSurvived || !r.withCLI {
			return st
		}
	}
	st, _ := r.goTest(ctx, overlay, r.timeout, "./cmd/reconcile")
	return st
}

// goTest runs go test in the module root and classifies the outcome: a
// failing test kills the mutant, a build failure makes it not viable.
func (r *runner) goTest(ctx context.Context, overlay string, timeout time.Duration, args ...string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a := []string{"test", "-failfast", "-timeout", (timeout + 30*time.Second).String()}
	if overlay != "" {
		a = append(a, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(a, args...)...)
	cmd.Dir = r.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return statusTimedOut, out.String()
	case err == nil:
		return statusSurvived, out.String()
	case bytes.Contains(out.Bytes(), []byte("[build failed]")), bytes.Contains(out.Bytes(), []byte("[setup failed]")):
		return statusNotViable, out.String()
	}
	return statusKilled, out.String()
}

func filter(ms []*mutant, only map[string]bool, equiv map[string]string) []*mutant {
	var out []*mutant
	for _, m := range ms {
		if only != nil && !only[filepath.Base(m.file)] {
			continue
		}
		if _, ok := equiv[m.key()]; ok && (m.status == statusSurvived || m.status == statusNotCovered) {
			m.status = statusEquivalent
		}
		out = append(out, m)
	}
	return out
}

// readEquivalent reads FILE:LINE:KIND REASON lines; # starts a comment.
func readEquivalent(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, _ := strings.Cut(line, " ")
		parts := strings.Split(key, ":")
		if len(parts) != 3 || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want FILE:LINE:KIND REASON", path, n)
		}
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: line %q is not a number", path, n, parts[1])
		}
		out[key] = strings.TrimSpace(reason)
	}
	return out, sc.Err()
}

// report prints, per package and file, the score of each kind, then the
// survivors. The score is killed (timed out counts as killed) over
// killed + survived + not covered; not viable and equivalent mutants are
// left out.
func report(w *os.File, ms []*mutant, equiv map[string]string) {
	type tally struct{ killed, survived, notCovered, notViable, equivalent int }
	group := func(m *mutant) string {
		if m.kind == kindErrNil || m.kind == kindRemoval {
			return "error-nil/removal"
		}
		return "gremlins"
	}
	add := func(t *tally, m *mutant) {
		switch m.status {
		case statusKilled, statusTimedOut:
			t.killed++
		case statusSurvived:
			t.survived++
		case statusNotCovered:
			t.notCovered++
		case statusNotViable:
			t.notViable++
		case statusEquivalent:
			t.equivalent++
		}
	}
	byKey := map[string]map[string]*tally{} // package or file → group → tally
	var keys []string
	for _, m := range ms {
		for _, k := range []string{filepath.Dir(m.file) + "/", m.file} {
			if byKey[k] == nil {
				byKey[k] = map[string]*tally{"gremlins": {}, "error-nil/removal": {}}
				keys = append(keys, k)
			}
			add(byKey[k][group(m)], m)
		}
	}
	sort.Strings(keys)
	score := func(t *tally) string {
		n := t.killed + t.survived + t.notCovered
		if n == 0 {
			return "—"
		}
		s := fmt.Sprintf("%5.1f %% (%d/%d", 100*float64(t.killed)/float64(n), t.killed, n)
		if t.notCovered > 0 {
			s += fmt.Sprintf(", %d not covered", t.notCovered)
		}
		if t.equivalent > 0 {
			s += fmt.Sprintf(", %d equivalent", t.equivalent)
		}
		if t.notViable > 0 {
			s += fmt.Sprintf(", %d not viable", t.notViable)
		}
		return s + ")"
	}
	fmt.Fprintf(w, "\n%-44s  %-40s  %s\n", "package / file", "gremlins", "error→nil / removal")
	for _, k := range keys {
		fmt.Fprintf(w, "%-44s  %-40s  %s\n", k, score(byKey[k]["gremlins"]), score(byKey[k]["error-nil/removal"]))
	}
	fmt.Fprintln(w, "\nsurvivors:")
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].file != ms[j].file {
			return ms[i].file < ms[j].file
		}
		return ms[i].line < ms[j].line
	})
	for _, m := range ms {
		if m.status != statusSurvived && m.status != statusNotCovered {
			continue
		}
		extra := ""
		if m.status == statusNotCovered {
			extra = " (not covered)"
		}
		fmt.Fprintf(w, "  %s:%d:%d %s %s%s\n      %s\n   -> %s\n", m.file, m.line, m.col, m.kind, m.what, extra, m.orig, m.mut)
	}
	for k, reason := range equiv {
		found := false
		for _, m := range ms {
			if m.key() == k {
				found = true
				break
			}
		}
		if !found && packageOf(k, ms) {
			fmt.Fprintf(w, "  note: equivalent.txt lists %s (%s), which matches no mutant: update it\n", k, reason)
		}
	}
}

// packageOf reports whether an equivalent.txt key is in a file this run mutated.
func packageOf(key string, ms []*mutant) bool {
	file, _, _ := strings.Cut(key, ":")
	for _, m := range ms {
		if m.file == file {
			return true
		}
	}
	return false
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it inside the module: go run ./testdata/mutation/mutator")
	}
	return filepath.Dir(mod), nil
}

func itoa(n int) string { return strconv.Itoa(n) }
