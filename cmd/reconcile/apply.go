package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
)

type applyOptions struct {
	manifestFlags
	targets     []string
	autoApprove bool
	parallelism int
	report      string
	json        bool
	sandbox     bool
	refresh     bool
	rails       engine.Rails
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
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			if !cmd.Flags().Changed("state") && o.sandbox {
				c.statePath = sandboxStateFile
			}
			return c.applyRun(cmd.Context(), o, planFile)
		},
	}
	o.manifestFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "limit to `ADDR` (PROVIDER/ID; * matches anything; repeatable)")
	f.BoolVar(&o.autoApprove, "auto-approve", false, "do not ask for confirmation")
	f.IntVar(&o.parallelism, "parallelism", 10, "most calls in flight across all services")
	f.StringVar(&o.report, "report", "", "write one CSV row per change to `FILE`")
	f.BoolVar(&o.json, "json", false, "print the plan and then one JSON event per line")
	f.IntVar(&o.rails.MaxDisable, "max-disable", engine.DefaultMaxDisable, "refuse a plan that disables more than `N` customers")
	f.BoolVar(&o.rails.AllowMassForget, "allow-mass-forget", false, "allow a plan that forgets more than half of the state's addresses")
	f.BoolVar(&o.refresh, "refresh", false, "read every targeted customer from its service first and plan against what it holds")
	f.BoolVar(&o.sandbox, "sandbox", false, "apply to the built-in simulator ("+sandboxStateFile+", "+sandboxDataFile+")")
	return cmd
}

func (c *cli) applyRun(ctx context.Context, o *applyOptions, planFile string) error {
	if o.parallelism < 1 {
		return &exitError{code: 1, msg: "-parallelism must be at least 1"}
	}
	if planFile != "" && (len(o.files) > 0 || len(o.targets) > 0 || o.refresh) {
		return &exitError{code: 1, msg: "a saved plan is applied as it is: -f, -target and -refresh belong to the plan command"}
	}
	backend, st, unlock, err := c.lockedState(ctx, "apply")
	if err != nil {
		return err
	}
	defer unlock()

	if o.sandbox {
		stop, err := c.sandboxEnv()
		if err != nil {
			return err
		}
		defer stop()
	}

	var p *engine.Plan
	if planFile != "" {
		if p, err = c.readPlanFile(planFile); err != nil {
			return err
		}
		if err := checkStale(p, st, planFile); err != nil {
			return err
		}
	} else {
		d, err := c.loadManifests(&o.manifestFlags)
		if err != nil {
			return err
		}
		provs, err := c.providers(d)
		if err != nil {
			return err
		}
		opts := engine.PlanOptions{Targets: o.targets, Providers: provs}
		if o.refresh {
			if opts.Refresh, err = c.refresh(ctx, d, st, o.targets, provs); err != nil {
				return err
			}
		}
		var diags engine.Diagnostics
		p, diags = engine.MakePlan(d, st, opts)
		if diags.HasErrors() {
			return diags
		}
		for _, dg := range diags {
			fmt.Fprintln(c.stderr, dg.String())
		}
	}

	// Show the plan: on stdout for humans; with -json the plan document
	// comes first and the events follow, one per line.
	if o.json {
		if err := engine.WritePlanJSON(c.stdout, p, false); err != nil {
			return err
		}
	} else if err := renderPlan(c.stdout, p, c.color(c.stdout), len(st.Resources)); err != nil {
		return err
	}
	c.log.Info("plan", "state", backend.String(), "lineage", p.StateLineage, "serial", p.StateSerial,
		"create", p.Summary.Create, "update", p.Summary.Update, "disable", p.Summary.Disable, "forget", p.Summary.Forget, "no_op", p.Summary.NoOp)
	if p.Summary.Changes() == 0 {
		return nil
	}

	if problems := engine.RailProblems(p, len(st.Resources), o.rails); len(problems) > 0 {
		return &exitError{code: 1, msg: "apply refused before any call:\n  " + strings.Join(problems, "\n  ")}
	}
	provs, err := c.providersFrom(p.Providers)
	if err != nil {
		return err
	}
	if err := c.readyProviders(p, provs); err != nil {
		return err
	}
	if planFile == "" && !o.autoApprove {
		fmt.Fprint(c.stdout, "\nDo you want to perform these actions? Only 'yes' will be accepted: ")
		line, _ := bufio.NewReader(c.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(c.stdout)
			return &exitError{code: 1, msg: "apply cancelled: nothing was changed"}
		}
	}
	fmt.Fprintln(c.stdout)

	// The state is saved before the first call, so that a journal always
	// sits beside the state it extends.
	if err := backend.Save(ctx, st); err != nil {
		return fmt.Errorf("saving the state before applying: %w", err)
	}
	journal, err := backend.OpenJournal(ctx, st)
	if err != nil {
		return err
	}
	rec := &foldingRecorder{journal: journal, state: st}

	// First Ctrl-C: stop starting calls. Second: abort those in flight.
	stop := make(chan struct{})
	callCtx, abort := context.WithCancel(ctx)
	defer abort()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		n := 0
		for range sig {
			n++
			if n == 1 {
				fmt.Fprintln(c.stderr, "\nInterrupted: starting no new calls, waiting for those in flight. Press Ctrl-C again to abort them.")
				close(stop)
			} else {
				fmt.Fprintln(c.stderr, "\nAborting the calls in flight.")
				abort()
				return
			}
		}
	}()

	totals := map[string]int{}
	for _, ch := range p.Changes {
		totals[ch.Provider] += len(ch.Calls)
	}
	prog := newProgress(c, totals, o.json)
	prog.start()
	res, applyErr := engine.Apply(callCtx, p, engine.ApplyOptions{
		Providers:   provs,
		Configs:     p.Providers,
		Parallelism: o.parallelism,
		Recorder:    rec,
		Events:      prog.event,
		Stop:        stop,
	})
	prog.stop()
	jerr := journal.Close()
	serr := backend.Save(context.WithoutCancel(ctx), st)
	if res == nil {
		res = &engine.Result{}
	}
	c.log.Info("apply done", "state", backend.String(), "serial", st.Serial, "calls", res.Calls, "created", res.Created, "updated", res.Updated,
		"disabled", res.Disabled, "forgotten", res.Forgotten, "failed", res.Failed, "not_attempted", res.NotAttempted, "save_error", errors.Join(jerr, serr))
	if applyErr != nil {
		return applyErr
	}
	if err := errors.Join(jerr, serr); err != nil {
		return fmt.Errorf("saving the state %s (its journal keeps every completed call; the next command folds it in): %w", backend, err)
	}
	if o.report != "" {
		if err := writeReport(o.report, res, c.redact); err != nil {
			fmt.Fprintf(c.stderr, "Error: writing the report: %v\n", err)
			return silentExit(1)
		}
	}
	c.printApplySummary(res, o.json)
	if res.Failed > 0 || res.NotAttempted > 0 {
		return silentExit(1)
	}
	return nil
}

// readyProviders checks, before any call, that every provider with calls to
// make has its credentials.
func (c *cli) readyProviders(p *engine.Plan, provs map[string]engine.Provider) error {
	need := map[string]bool{}
	for _, ch := range p.Changes {
		if len(ch.Calls) > 0 {
			need[ch.Provider] = true
		}
	}
	return c.checkReady(need, provs, "No call was made.")
}

// checkReady asks every needed provider whether it has its credentials,
// and names every missing variable at once; outcome says what that means.
func (c *cli) checkReady(need map[string]bool, provs map[string]engine.Provider, outcome string) error {
	var errs []string
	for _, name := range c.reg.Names() {
		if need[name] {
			if err := provs[name].Ready(); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return &exitError{code: 1, msg: strings.Join(errs, "\n       ") + "\n" + outcome + " (To try reconcile without an account, use -sandbox.)"}
	}
	return nil
}

// checkStale refuses a saved plan made against another state, or touching an
// address whose state entry changed since the plan was made.
func checkStale(p *engine.Plan, st *engine.State, planFile string) error {
	// A plan made before the first apply saw a state that did not exist yet,
	// with a lineage made up for it; the state, still missing, makes up
	// another on every load. It takes the plan's, as the state the plan
	// was made for (a GitOps pipeline's first merge).
	if st.Serial == 0 && len(st.Resources) == 0 && p.StateSerial == 0 {
		st.Lineage = p.StateLineage
	}
	if p.StateLineage != st.Lineage {
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s was made against another state (lineage %s; this state is %s). Plan again against this state: reconcile plan -out %s", planFile, p.StateLineage, st.Lineage, planFile)}
	}
	var stale []string
	for _, ch := range p.Changes {
		if st.Resources[ch.Address].Digest() != ch.Prior {
			stale = append(stale, ch.Address)
		}
	}
	if len(stale) > 0 {
		more := ""
		if len(stale) > 10 {
			more = fmt.Sprintf(" and %d more", len(stale)-10)
			stale = stale[:10]
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s is stale: the state changed since it was made for %s%s (an apply ran, perhaps this plan's). Nothing was changed. Plan again: reconcile plan -out %s", planFile, strings.Join(stale, ", "), more, planFile)}
	}
	return nil
}

// foldingRecorder writes each record to the journal (durable once it
// returns) and folds it into the in-memory state that is saved at the end.
type foldingRecorder struct {
	mu      sync.Mutex
	journal engine.Journal
	state   *engine.State
}

func (r *foldingRecorder) Record(rec engine.Record) error {
	if err := r.journal.Record(rec); err != nil {
		return err
	}
	r.mu.Lock()
	r.state.ApplyRecord(rec)
	r.mu.Unlock()
	return nil
}

// maxFailuresShown bounds the failures listed after an apply; the report
// has them all.
const maxFailuresShown = 10

func (c *cli) printApplySummary(res *engine.Result, asJSON bool) {
	w := c.stdout
	if asJSON {
		w = c.stderr
	}
	fmt.Fprintf(w, "\nApply complete! %d created, %d updated, %d disabled, %d forgotten, %d failed, %d warnings.\n",
		res.Created, res.Updated, res.Disabled, res.Forgotten, res.Failed, res.Warnings)
	if res.NotAttempted > 0 {
		fmt.Fprintf(w, "%d not attempted: run reconcile apply again to carry them out.\n", res.NotAttempted)
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
