package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"

	"github.com/rogpeppe/go-internal/testscript"

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
		Files: []string{"testdata/script/import.txtar", "testdata/script/refresh_drift.txtar", "testdata/script/plan_cycle.txtar", "testdata/script/gitops.txtar"},
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("NO_COLOR", "")
			env.Setenv("RECONCILE_SANDBOX_ANSWERS", "alternate")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"jsonpath": jsonPathCmd, "sandboxedit": sandboxEditCmd},
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
	sb, err := sandbox.New(sandbox.Options{DataFile: ts.MkAbs(sandboxDataFile)})
	ts.Check(err)
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
	ts.Check(sb.Save())
}
