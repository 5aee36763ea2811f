package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

// applyOptions are apply's flags and its target, resolved once.
type applyOptions struct {
	manifestFlags
	targets     []string
	autoApprove bool
	parallelism int
	canary      int
	verify      bool
	report      string
	json        bool
	sandbox     bool
	refresh     bool
	rails       engine.Rails
	planFile    string
	target      target
}

func (c *cli) newApplyCmd() *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [flags] [PLANFILE]",
		Short: "Make the planned changes in the services",
		Long: `Apply plans (unless given a plan saved with plan -out), shows the plan, asks for
confirmation (unless -auto-approve or a plan file), then makes the changes: customers in
parallel, each customer's calls in order, each service within its rate limit, failed
calls retried with backoff. Every completed call is recorded in the state as it
completes, so an interrupted apply loses nothing: run it again to finish.

The first Ctrl-C starts no new calls, lets those in flight finish, saves and exits 1;
a second Ctrl-C aborts at once (what completed is still recorded).

Credentials come from the environment only: ` + c.credentialsHelp() + `.
With -sandbox, apply runs against the built-in simulator instead, with no account.`,
		Example: `  reconcile apply -sandbox -auto-approve        # try it end to end, no account
  reconcile apply
  reconcile plan -out plan.json && reconcile apply plan.json
  reconcile apply -report result.csv -auto-approve`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.planFile = args[0]
			}
			o.target = c.resolve(o.sandbox)
			return c.applyRun(cmd.Context(), o)
		},
	}
	o.manifestFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "limit to `ADDR` (PROVIDER/ID; * matches anything; repeatable)")
	f.BoolVar(&o.autoApprove, "auto-approve", false, "do not ask for confirmation")
	f.IntVar(&o.parallelism, "parallelism", 10, "most calls in flight across all services")
	f.IntVar(&o.canary, "canary", engine.DefaultCanary, "write and verify each service's first `N` customers before the rest; a field that does not stick stops the service (0: none)")
	f.BoolVar(&o.verify, "verify", false, "verify every write by what the service holds after it (reads where the answer does not show it)")
	f.StringVar(&o.report, "report", "", "write one CSV row per change to `FILE`")
	f.BoolVar(&o.json, "json", false, "print the plan and then one JSON event per line")
	f.IntVar(&o.rails.MaxDisable, "max-disable", engine.DefaultMaxDisable, "refuse a plan that disables more than `N` customers")
	f.BoolVar(&o.rails.AllowMassForget, "allow-mass-forget", false, "allow a plan that forgets more than half of the state's addresses")
	f.BoolVar(&o.refresh, "refresh", false, "read every targeted customer from its service first and plan against what it holds")
	f.BoolVar(&o.sandbox, "sandbox", false, "apply to the built-in simulator ("+sandboxStateFile+", "+sandboxDataFile+")")
	return cmd
}

func (c *cli) applyRun(ctx context.Context, o *applyOptions) error {
	if o.canary < 0 {
		return &exitError{code: 1, msg: "-canary must be 0 (none) or more"}
	}
	if o.parallelism < 1 {
		return &exitError{code: 1, msg: "-parallelism must be at least 1"}
	}
	if o.planFile != "" && (len(o.files) > 0 || len(o.targets) > 0 || o.refresh) {
		return &exitError{code: 1, msg: "a saved plan is applied as it is: -f, -target and -refresh belong to the plan command"}
	}
	b, err := o.target.backend(c.reg)
	if err != nil {
		return err
	}
	if o.target.lockErr != nil {
		return o.target.lockErr
	}
	view := c.newApplyView(o.target, o.json)
	var release []func()
	defer func() {
		for _, f := range release {
			f()
		}
	}()
	out, err := c.runner(o.target, b).Apply(ctx, operation.ApplyRequest{
		Manifests:   func() (*engine.Desired, error) { return c.loadManifests(&o.manifestFlags) },
		Targets:     o.targets,
		Refresh:     o.refresh,
		PlanFile:    o.planFile,
		Rails:       o.rails,
		Parallelism: o.parallelism,
		Canary:      o.canary,
		VerifyAll:   o.verify,
		Hooks: operation.ApplyHooks{
			Hooks:    c.hooks(),
			ShowPlan: view.plan.show,
			Confirm:  func(*engine.Plan) bool { return c.confirm(o) },
			Applying: func(ctx context.Context, totals map[string]int) operation.Calls {
				callCtx, stop, stopWatching := c.watchInterrupts(ctx)
				release = append(release, stopWatching)
				prog := view.progress(totals)
				prog.start()
				return operation.Calls{Ctx: callCtx, Stop: stop, Events: prog.event, Done: prog.stop}
			},
		},
	})
	if err != nil {
		return err
	}
	res := out.Result
	if res == nil {
		return nil // no changes
	}
	if o.report != "" {
		if err := writeReport(o.report, res, c.redact); err != nil {
			fmt.Fprintf(c.stderr, "Error: writing the report: %v\n", err)
			return silentExit(1)
		}
	}
	c.printApplySummary(view.summary, res)
	if res.Failed > 0 || res.NotAttempted > 0 {
		return silentExit(1)
	}
	return nil
}

// confirm asks whether to apply, unless -auto-approve or a saved plan (which
// was reviewed when it was made).
func (c *cli) confirm(o *applyOptions) bool {
	if o.planFile == "" && !o.autoApprove {
		fmt.Fprint(c.stdout, "\nDo you want to perform these actions? Only 'yes' will be accepted: ")
		line, _ := bufio.NewReader(c.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(c.stdout)
			return false
		}
	}
	fmt.Fprintln(c.stdout)
	return true
}

// watchInterrupts turns the first Ctrl-C (or SIGTERM) into stop, which
// starts no new calls, and the second into cancelling the calls' context,
// which aborts those in flight. release stops watching.
func (c *cli) watchInterrupts(ctx context.Context) (callCtx context.Context, stop <-chan struct{}, release func()) {
	stopped := make(chan struct{})
	callCtx, abort := context.WithCancel(ctx)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range sig {
			n++
			if n == 1 {
				fmt.Fprintln(c.stderr, "\nInterrupted: starting no new calls, waiting for those in flight. Press Ctrl-C again to abort them.")
				close(stopped)
			} else {
				fmt.Fprintln(c.stderr, "\nAborting the calls in flight.")
				abort()
				return
			}
		}
	}()
	return callCtx, stopped, func() {
		signal.Stop(sig)
		abort()
	}
}

// printApplySummary writes the apply's outcome and its first failures and
// warnings to w.
func (c *cli) printApplySummary(w io.Writer, res *engine.Result) {
	fmt.Fprintf(w, "\nApply complete! %d created, %d updated, %d disabled, %d forgotten, %d failed, %d warnings.\n",
		res.Created, res.Updated, res.Disabled, res.Forgotten, res.Failed, res.Warnings)
	if res.NotAttempted > 0 {
		fmt.Fprintf(w, "%d not attempted: run reconcile apply again to carry them out.\n", res.NotAttempted)
	}
	if res.Verified > 0 {
		fmt.Fprintf(w, "Verified %s against what the services hold after the write (fields they cannot read back are not: %s).\n",
			plural(res.Verified, "change", "changes"), c.unreadable())
	}
	if res.Skipped > 0 {
		fmt.Fprintf(w, "%d skipped: not in the service, and on_missing: skip (the report lists them; nothing was created).\n", res.Skipped)
	}
	var failed, warned []*engine.Item
	for _, it := range res.Items {
		switch it.Status {
		case engine.StatusFailed:
			failed = append(failed, it)
		case engine.StatusWarning:
			warned = append(warned, it)
		}
	}
	list := func(title string, items []*engine.Item) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, it := range items[:min(len(items), maxFailuresShown)] {
			src := ""
			if it.Change.Source != "" {
				src = " (" + it.Change.Source + ")"
			}
			fmt.Fprintf(w, "  %s%s: %s\n", it.Change.Address, src, c.redact(it.Message))
		}
		if len(items) > maxFailuresShown {
			fmt.Fprintf(w, "  ... and %d more (see -report FILE.csv)\n", len(items)-maxFailuresShown)
		}
	}
	list("Failures", failed)
	list("Warnings (the service accepted the change and said this; nothing to redo)", warned)
}
