package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"

	"github.com/reconcile-dev/reconcile/engine/state"
)

var update = flag.Bool("update", false, "rewrite the golden files the scripts compare with")

// mainEnv makes the test binary run reconcile itself, for tests that start
// it as a process (and kill it).
const mainEnv = "RECONCILE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	testscript.Main(m, map[string]func(){
		"reconcile": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script: each is a short text
// of commands, expected exit statuses and anchored output patterns.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("NO_COLOR", "")
			env.Values[servedKey{}] = new(*sandbox.Sandbox)
			env.Values[markKey{}] = new(int)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// jsonpath FILE PATH WANT parses FILE as one JSON document and
			// checks that the value at PATH (dot-separated keys and array
			// indexes, e.g. changes.0.fields.1.after) encodes as WANT.
			"jsonpath": jsonPathCmd,
			// sandboxedit PROVIDER ID KEY JSON edits a customer in the
			// sandbox data file of the current directory as the service's
			// admin panel would (KEY is the service's JSON field name);
			// with -create, a missing customer is created first.
			"sandboxedit": sandboxEditCmd,
			// holdlock FILE OPERATION takes the state lock of FILE in the test
			// process and holds it until the script ends: another process
			// (reconcile) then finds it held.
			// sandboxserve [-latency D] [-fail-rate P] serves a sandbox from
			// the test process until the script ends, and points the next
			// commands at it (the services' base URLs and the sandbox's
			// credentials in the environment), as a real service would be.
			"sandboxserve": sandboxServeCmd,
			// requests [-wait] N checks that the served sandbox has answered
			// exactly N requests; with -wait, waits (up to 30s) until it has
			// answered at least N more than at the last requests -mark.
			"requests": requestsCmd,
			// runhint stdout|stderr|FILE REGEXP runs the command that the
			// first group of REGEXP captures in the last command's output (or
			// FILE's)
			// ("reconcile apply -sandbox p.json"), as a user copying it
			// would; its output and exit status become the last command's.
			"runhint": runHintCmd,
			// jsonlines FILE [LAST] checks that every line of FILE is one
			// JSON object with a "type", an "@level", an "@message" and an
			// "@timestamp", and prints "first: TYPE", "last: TYPE" and
			// "count TYPE N" per type, for stdout checks; LAST receives the
			// last line, for jsonpath.
			"jsonlines": jsonLinesCmd,
			// workflowstep FILE JOB STEP OUT writes the run script of the step
			// named STEP of JOB in the GitHub Actions workflow FILE to OUT,
			// so that the script runs exactly what the workflow runs.
			"workflowstep": workflowStepCmd,
			"holdlock": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: holdlock FILE OPERATION")
				}
				lock, err := state.NewFile(ts.MkAbs(args[0])).Lock(context.Background(), args[1], 0)
				ts.Check(err)
				ts.Defer(func() { lock.Unlock() })
			},
		},
	})
}

// TestScriptsAlternateAnswers runs the scripts that import, refresh and
// apply against a sandbox that serves the other readings of the vendors'
// pages (not-found as a 200 with an error in the body): the same commands
// must give the same results.
func TestScriptsAlternateAnswers(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Files: []string{"testdata/script/import.txtar", "testdata/script/refresh_drift.txtar", "testdata/script/plan_cycle.txtar", "testdata/script/gitops.txtar", "testdata/script/drift.txtar"},
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("NO_COLOR", "")
			env.Setenv("RECONCILE_SANDBOX_ANSWERS", "alternate")
			env.Values[servedKey{}] = new(*sandbox.Sandbox)
			env.Values[markKey{}] = new(int)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"jsonpath": jsonPathCmd, "sandboxedit": sandboxEditCmd, "sandboxserve": sandboxServeCmd, "requests": requestsCmd, "runhint": runHintCmd, "jsonlines": jsonLinesCmd, "workflowstep": workflowStepCmd},
	})
}

func jsonPathCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonpath FILE PATH WANT")
	}
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	var doc any
	ts.Check(dec.Decode(&doc))
	if dec.More() {
		ts.Fatalf("%s holds more than one JSON document", args[0])
	}
	v := doc
	for _, seg := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				v = "<absent>"
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil {
				ts.Fatalf("%s: %q is not an array index", args[1], seg)
			}
			if i < 0 || i >= len(x) {
				v = "<absent>"
			} else {
				v = x[i]
			}
		default:
			ts.Fatalf("%s: %q is not inside an object or array", args[1], seg)
		}
	}
	got, err := json.Marshal(v)
	ts.Check(err)
	if v == "<absent>" {
		got = []byte("<absent>")
	}
	if (string(got) == args[2]) == neg {
		ts.Fatalf("%s %s = %s, want %s%s", args[0], args[1], got, map[bool]string{true: "not "}[neg], args[2])
	}
}

func sandboxEditCmd(ts *testscript.TestScript, neg bool, args []string) {
	create := len(args) > 0 && args[0] == "-create"
	if create {
		args = args[1:]
	}
	if neg || len(args) != 4 {
		ts.Fatalf("usage: sandboxedit [-create] PROVIDER ID KEY JSON")
	}
	// The sandbox of sandboxserve when there is one, else the data file of
	// -sandbox.
	sb := *servedSandbox(ts)
	if sb == nil {
		var err error
		sb, err = sandbox.New(sandbox.Options{DataFile: ts.MkAbs(sandboxDataFile)})
		ts.Check(err)
		defer func() { ts.Check(sb.Save()) }()
	}
	prov, id, key, val := args[0], args[1], args[2], args[3]
	edit := func(c any) {
		b, err := json.Marshal(c)
		ts.Check(err)
		var m map[string]json.RawMessage
		ts.Check(json.Unmarshal(b, &m))
		m[key] = json.RawMessage(val)
		b, err = json.Marshal(m)
		ts.Check(err)
		ts.Check(json.Unmarshal(b, c))
	}
	switch prov {
	case "bonifiq":
		ts.Check(bonifiq.SimOf(sb.Sim(bonifiq.Name)).Edit(id, create, func(c *bonifiq.Customer) { edit(c) }))
	case "invisiblecollector":
		ts.Check(invisiblecollector.SimOf(sb.Sim(invisiblecollector.Name)).Edit(id, create, func(c *invisiblecollector.Customer) { edit(c) }))
	case "tomticket":
		ts.Check(tomticket.SimOf(sb.Sim(tomticket.Name)).Edit(id, create, func(c *tomticket.Customer) { edit(c) }))
	default:
		ts.Fatalf("unknown provider %q", prov)
	}
}

// servedKey is where sandboxserve keeps its sandbox for requests.
type servedKey struct{}

func sandboxServeCmd(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("sandboxserve", flag.ContinueOnError)
	latency := fs.Duration("latency", 0, "")
	failRate := fs.Float64("fail-rate", 0, "")
	if neg || fs.Parse(args) != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: sandboxserve [-latency D] [-fail-rate P]")
	}
	sb, err := sandbox.New(sandbox.Options{Latency: *latency, FailRate: *failRate, Seed: 1, Alternate: ts.Getenv("RECONCILE_SANDBOX_ANSWERS") == "alternate"})
	ts.Check(err)
	base, err := sb.Start("127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { sb.Close() })
	for _, kv := range sb.Env(base) {
		k, v, _ := strings.Cut(kv, "=")
		ts.Setenv(k, v)
	}
	*servedSandbox(ts) = sb
}

// servedSandbox is the script's sandboxserve sandbox.
func servedSandbox(ts *testscript.TestScript) **sandbox.Sandbox {
	return ts.Value(servedKey{}).(**sandbox.Sandbox)
}

// markKey is where requests -mark keeps its count.
type markKey struct{}

func requestsCmd(ts *testscript.TestScript, neg bool, args []string) {
	sb := *servedSandbox(ts)
	if sb == nil {
		ts.Fatalf("requests: no sandboxserve")
	}
	mark := ts.Value(markKey{}).(*int)
	if len(args) == 1 && args[0] == "-mark" {
		*mark = len(sb.Requests())
		return
	}
	wait := len(args) == 2 && args[0] == "-wait"
	if wait {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: requests -mark | requests [-wait] N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	if wait {
		n += *mark
		for deadline := time.Now().Add(30 * time.Second); len(sb.Requests()) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				ts.Fatalf("the sandbox answered %d requests in 30s, want %d", len(sb.Requests()), n)
			}
		}
		return
	}
	if got := len(sb.Requests()); got != n {
		ts.Fatalf("the sandbox answered %d requests, want %d: %v", got, n, sb.Requests())
	}
}

func runHintCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: runhint stdout|stderr|FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if len(m) < 2 {
		ts.Fatalf("runhint: no match for %q in %s", args[1], args[0])
	}
	words, err := shellWords(m[1])
	ts.Check(err)
	if len(words) == 0 || words[0] != "reconcile" {
		ts.Fatalf("runhint: %q is not a reconcile command", m[1])
	}
	ts.Logf("runhint: %s", m[1])
	err = ts.Exec(words[0], words[1:]...)
	if (err == nil) == neg {
		ts.Fatalf("runhint %q: %v (want %s)", m[1], err, map[bool]string{true: "failure", false: "success"}[neg])
	}
}

// shellWords splits a command line as a POSIX shell does words with
// single quotes, double quotes and backslashes (no expansions).
func shellWords(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				w.WriteByte(ch)
			}
		case quote == '"':
			if ch == '"' {
				quote = 0
			} else if ch == '\\' && i+1 < len(s) {
				i++
				w.WriteByte(s[i])
			} else {
				w.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			in = true
		case ch == ' ' || ch == '\t':
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		out = append(out, w.String())
	}
	return out, nil
}

func jsonLinesCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: jsonlines FILE [LAST]")
	}
	data := ts.ReadFile(args[0])
	if data == "" || !strings.HasSuffix(data, "\n") {
		ts.Fatalf("%s: empty, or its last line is not ended", args[0])
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	counts := map[string]int{}
	var order []string
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			ts.Fatalf("%s:%d is not one JSON object: %v\n%s", args[0], i+1, err, l)
		}
		typ, _ := obj["type"].(string)
		if typ == "" {
			ts.Fatalf("%s:%d has no type: %s", args[0], i+1, l)
		}
		for _, k := range []string{"@level", "@message", "@timestamp"} {
			if v, _ := obj[k].(string); v == "" {
				ts.Fatalf("%s:%d has no %s: %s", args[0], i+1, k, l)
			}
		}
		if counts[typ] == 0 {
			order = append(order, typ)
		}
		counts[typ]++
	}
	out := ts.Stdout()
	first, last := lines[0], lines[len(lines)-1]
	var f, l struct{ Type string }
	json.Unmarshal([]byte(first), &f)
	json.Unmarshal([]byte(last), &l)
	fmt.Fprintf(out, "first: %s\nlast: %s\n", f.Type, l.Type)
	for _, typ := range order {
		fmt.Fprintf(out, "count %s %d\n", typ, counts[typ])
	}
	if len(args) == 2 {
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(last+"\n"), 0o644))
	}
}

func workflowStepCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: workflowstep FILE JOB STEP OUT")
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string `yaml:"name"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	ts.Check(yaml.Unmarshal([]byte(ts.ReadFile(args[0])), &wf))
	job, ok := wf.Jobs[args[1]]
	if !ok {
		ts.Fatalf("%s: no job %q", args[0], args[1])
	}
	for _, st := range job.Steps {
		if st.Name == args[2] {
			if st.Run == "" {
				ts.Fatalf("%s: step %q runs no script", args[0], args[2])
			}
			// GitHub runs a step's script with bash -e.
			ts.Check(os.WriteFile(ts.MkAbs(args[3]), []byte("set -e\n"+st.Run), 0o755))
			return
		}
	}
	ts.Fatalf("%s: job %q has no step %q", args[0], args[1], args[2])
}
