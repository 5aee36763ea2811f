package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cli holds what every command needs from the outside world, so tests can
// run commands in-process.
type cli struct {
	// reg lists the services: the product's, or a test's.
	reg    *engine.Registry
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// log receives structured logs (RECONCILE_LOG); it discards by default.
	log *slog.Logger
	// scrub removes credentials from messages (see redact).
	scrub *strings.Replacer

	// Persistent flags, as parsed. Commands read them through the target
	// they resolve once (resolve); nothing writes them after parsing.
	statePath   string
	lockTimeout string
	noColor     bool
	workspace   string
	// stateFlag is -state, to tell a value given from the default (which
	// RECONCILE_STATE replaces).
	stateFlag *pflag.Flag

	// fakeTerm, in tests, says what a writer is (a fake terminal of some
	// width); nil or false: ask the operating system.
	fakeTerm func(io.Writer) (termInfo, bool)
	// resolved is the target the command resolved (nil before), whose
	// flags the commands reconcile suggests repeat.
	resolved *target
}

// exitError carries an exit status and, optionally, a message for stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// silentExit ends a command with code after it has printed what it had to say.
func silentExit(code int) error { return &exitError{code: code} }

// run executes reconcile with args and returns the exit status. It is main
// without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runWith(registry.Default(), ctx, args, stdin, stdout, stderr, getenv)
}

// runWith is run for the services of reg.
func runWith(reg *engine.Registry, ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return (&cli{reg: reg, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}).main(ctx, args)
}

// main runs the command args name.
func (c *cli) main(ctx context.Context, args []string) int {
	stdout, stderr := c.stdout, c.stderr
	if isCompletionRequest(args) {
		// The shell asks for completions: answer in the one-dash style the
		// flags are documented in, and without the help's backticks.
		var oneDash bool
		args, oneDash = completionArgs(args)
		var buf bytes.Buffer
		c.stdout = &buf
		defer func() { stdout.Write(fixCompletions(buf.Bytes(), oneDash)) }()
	}
	c.scrub = c.redactor()
	logger, closeLog, err := c.setupLog()
	if err != nil {
		fmt.Fprintln(stderr, "Error: "+err.Error())
		return 1
	}
	defer closeLog()
	c.log = logger
	c.log.Debug("start", "args", args, "version", version)
	root := c.newRootCmd()
	root.SetArgs(normalizeArgs(root, args))
	err = c.explain(root.ExecuteContext(ctx))
	if err != nil {
		c.log.Debug("exit", "error", c.redact(err.Error()))
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "Error: "+c.redact(c.withHintFlags(ee.msg)))
		}
		return ee.code
	}
	var ds engine.Diagnostics
	if errors.As(err, &ds) {
		printDiagnostics(stderr, ds)
		return 1
	}
	fmt.Fprintln(stderr, "Error: "+c.redact(c.withHintFlags(err.Error())))
	return 1
}

// exitStatus is the exit status a command's error gives.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (c *cli) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "reconcile",
		Short: "Plan and apply customer records across " + c.titles(),
		Long: `reconcile keeps customer records in SaaS services (` + c.titles() + `)
in the state that reviewed YAML and CSV manifests describe.

  reconcile validate      check the manifests, report every problem with its position
  reconcile plan          show, offline, what would change in each service
  reconcile apply         make those changes, recording each one as it completes
  reconcile import        adopt customers that already exist in the services
  reconcile show          print the state, or a plan saved with plan -out
  reconcile state ...     list, inspect, remove, push or pull the state
  reconcile sandbox       serve a simulator of the services (no account needed)

Try it with no account: reconcile apply -sandbox -auto-approve, then reconcile plan -sandbox.
Manifests are read from manifests/ unless -f names files or directories.
Long flags take one dash or two: -state x, --state=x.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVar(&c.statePath, "state", "reconcile.state.json", "state `FILE`, or a postgres:// URL for a shared state (also RECONCILE_STATE)")
	pf.StringVar(&c.lockTimeout, "lock-timeout", "0s", "how long to wait for a held state lock (`DURATION`)")
	pf.BoolVar(&c.noColor, "no-color", false, "never colour the output (also NO_COLOR)")
	pf.StringVar(&c.workspace, "workspace", "", "with a postgres:// -state, the `NAME` of one of the states the database keeps (default \"default\"; also RECONCILE_WORKSPACE)")
	c.stateFlag = pf.Lookup("state")
	root.AddCommand(
		c.newValidateCmd(),
		c.newPlanCmd(),
		c.newApplyCmd(),
		c.newImportCmd(),
		c.newSandboxCmd(),
		c.newShowCmd(),
		c.newStateCmd(),
		c.newForceUnlockCmd(),
		c.newVersionCmd(),
	)
	c.conventions(root)
	return root
}

// normalizeArgs turns terraform-style long flags with one dash (-state x,
// -target=a) into the two-dash form pflag expects, so that pflag does not
// read -state as -s -t -a -t -e. A one-dash word that names no long flag
// (a typo: -jsn) is rewritten too, so that pflag reports it as the unknown
// flag it is, unless it starts with a single-letter flag (-fmanifests/ is
// -f manifests/) or a digit (a negative number). Everything after -- stays
// as it is.
func normalizeArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true}
	short := map[byte]bool{'h': true, 'v': true}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		add := func(f *pflag.Flag) {
			long[f.Name] = true
			if len(f.Shorthand) == 1 {
				short[f.Shorthand[0]] = true
			}
		}
		cmd.LocalFlags().VisitAll(add)
		cmd.PersistentFlags().VisitAll(add)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name := a[1:]
			if j := strings.IndexByte(name, '='); j >= 0 {
				name = name[:j]
			}
			if long[name] || !short[a[1]] && (a[1] < '0' || a[1] > '9') {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

func printDiagnostics(w io.Writer, ds engine.Diagnostics) {
	for _, d := range ds {
		fmt.Fprintln(w, d.String())
	}
	if n := ds.Errors(); n > 0 {
		s := "s"
		if n == 1 {
			s = ""
		}
		fmt.Fprintf(w, "%d error%s.\n", n, s)
	}
}

// titles names the registry's services: "BonifiQ, InvisibleCollector and
// TomTicket".
func (c *cli) titles() string {
	var ts []string
	for _, svc := range c.reg.Services() {
		ts = append(ts, cmp.Or(svc.Title, svc.Name))
	}
	return joinAnd(ts, ", ")
}

// credentialsHelp lists the services' credential variables:
// "BONIFIQ_API_TOKEN and BONIFIQ_API_KEY, INVISIBLECOLLECTOR_API_TOKEN, ...".
func (c *cli) credentialsHelp() string {
	var parts []string
	for _, svc := range c.reg.Services() {
		if vars := svc.CredentialVars(); len(vars) > 0 {
			parts = append(parts, strings.Join(vars, " and "))
		}
	}
	return strings.Join(parts, ", ")
}

// joinAnd joins items with sep, and the last two with " and ".
func joinAnd(items []string, sep string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], sep) + " and " + items[len(items)-1]
}
