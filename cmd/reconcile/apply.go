package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
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
			view := c.newApplyView(o.target, o.json)
			err := c.applyRun(cmd.Context(), o, view)
			view.finish(err)
			return err
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
	f.BoolVar(&o.json, "json", false, "print one JSON object per line (needs -auto-approve or a plan file)")
	f.IntVar(&o.rails.MaxDisable, "max-disable", engine.DefaultMaxDisable, "refuse a plan that disables more than `N` customers")
	f.BoolVar(&o.rails.AllowMassForget, "allow-mass-forget", false, "allow a plan that forgets more than half of the state's addresses")
	f.BoolVar(&o.refresh, "refresh", false, "read every targeted customer from its service first and plan against what it holds")
	f.BoolVar(&o.sandbox, "sandbox", false, "apply to the built-in simulator ("+sandboxStateFile+", "+sandboxDataFile+")")
	return cmd
}

func (c *cli) applyRun(ctx context.Context, o *applyOptions, view applyView) error {
	if o.json && !o.autoApprove && o.planFile == "" {
		return &exitError{code: 1, msg: "apply -json needs -auto-approve or a plan file: it does not prompt (stdout is for the JSON lines)"}
	}
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
	var release []func()
	defer func() {
		for _, f := range release {
			f()
		}
	}()
	var interrupted atomic.Bool
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
			Hooks:    view.hooks(),
			ShowPlan: view.plan,
			Confirm:  func(*engine.Plan) bool { return c.confirm(o) },
			Applying: func(ctx context.Context, totals map[string]int) operation.Calls {
				// From here on the heap holds the plan, the state and the
				// manifests, and the calls make garbage only: a heap goal of
				// 2x what is live (GOGC=100) would let the process grow to
				// twice what the plan held. A goal of 1.2x keeps it flat.
				gcPercent := debug.SetGCPercent(applyGCPercent)
				release = append(release, func() { debug.SetGCPercent(gcPercent) })
				prog := view.progress(totals)
				callCtx, stop, stopWatching := c.watchInterrupts(ctx, prog.say, &interrupted)
				release = append(release, stopWatching)
				prog.start()
				return operation.Calls{Ctx: callCtx, Stop: stop, Events: prog.event, Done: prog.stop}
			},
		},
	})
	if out == nil || (out.Result == nil && err != nil) {
		return err
	}
	res := out.Result
	if o.report != "" {
		if res == nil {
			res = &engine.Result{} // no changes: a report with its header only
		}
		if rerr := writeReport(o.report, res, func(s string) string { return c.redact(c.withHintFlags(s)) }); rerr != nil {
			fmt.Fprintf(c.stderr, "Error: writing the report: %v\n", rerr)
			if err == nil {
				err = silentExit(1)
			}
		}
	}
	if out.Result == nil {
		return err // no changes
	}
	view.done(res, interrupted.Load())
	if err != nil {
		return err
	}
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
	if !o.json {
		fmt.Fprintln(c.stdout)
	}
	return true
}

// watchInterrupts turns the first Ctrl-C (or SIGTERM) into stop, which
// starts no new calls, and the second into cancelling the calls' context,
// which aborts those in flight; say prints what each does, and interrupted
// records that one came. release stops watching.
func (c *cli) watchInterrupts(ctx context.Context, say func(string), interrupted *atomic.Bool) (callCtx context.Context, stop <-chan struct{}, release func()) {
	stopped := make(chan struct{})
	callCtx, abort := context.WithCancel(ctx)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range sig {
			n++
			interrupted.Store(true)
			if n == 1 {
				say("\nInterrupted: starting no new calls, waiting for those in flight. Press Ctrl-C again to abort them.")
				close(stopped)
			} else {
				say("\nAborting the calls in flight.")
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

// applyHeadline says how an apply ended: "Apply complete! <counts>" only
// when every change was made; otherwise "Apply failed: ..." or "Apply
// interrupted: ...", whose counts line follows (countsLine). outcome names
// it for -json: complete, failed or interrupted.
func applyHeadline(res *engine.Result, interrupted bool) (headline, outcome string) {
	total := len(res.Items)
	// A create skipped under on_missing: skip did what was asked.
	made := res.Created + res.Updated + res.Disabled + res.Forgotten + res.Skipped
	switch {
	case made == total:
		return "Apply complete! " + countsLine(res), "complete"
	case interrupted:
		h := fmt.Sprintf("Apply interrupted: %d of %d changes made", made, total)
		if res.Failed > 0 {
			h += fmt.Sprintf(", %d failed", res.Failed)
		}
		return h + fmt.Sprintf(", %d not attempted.", res.NotAttempted), "interrupted"
	case res.Failed > 0:
		h := fmt.Sprintf("Apply failed: %d of %d changes failed", res.Failed, total)
		if res.NotAttempted > 0 {
			h += fmt.Sprintf(", %d not attempted", res.NotAttempted)
		}
		return h + ".", "failed"
	}
	return fmt.Sprintf("Apply failed: %d of %d changes not attempted.", res.NotAttempted, total), "failed"
}

// countsLine is the line of counts every apply ends with.
func countsLine(res *engine.Result) string {
	line := fmt.Sprintf("%d created, %d updated, %d disabled, %d forgotten, %d failed, %d warnings",
		res.Created, res.Updated, res.Disabled, res.Forgotten, res.Failed, res.Warnings)
	if res.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", res.Skipped)
	}
	return line + "."
}

// refusal is a service that refused the credentials during an apply: its
// first call was answered 401 or 403, and its other changes were not
// attempted.
type refusal struct {
	svc *engine.Service
	// status is the HTTP status of the refusal.
	status int
	// notMade counts the service's changes not made; of changes.
	notMade, changes int
}

// String is the one message a refusal gets: "tomticket refused the
// credentials (401 Unauthorized): check TOMTICKET_API_TOKEN. None of its 6
// changes was made."
func (r refusal) String() string {
	vars := r.svc.CredentialVars()
	check := "its credentials"
	if len(vars) > 0 {
		check = joinAnd(vars, ", ")
	}
	made := fmt.Sprintf("None of its %d changes was made.", r.changes)
	switch {
	case r.changes == 1:
		made = "Its change was not made."
	case r.notMade < r.changes:
		made = fmt.Sprintf("%d of its %d changes were not made.", r.notMade, r.changes)
	}
	return fmt.Sprintf("%s refused the credentials (%d %s): check %s. %s", r.svc.Name, r.status, http.StatusText(r.status), check, made)
}

// refusedStatus reports whether status is a refusal of the credentials.
func refusedStatus(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// credentialRefusals lists, in registry order, the services that refused
// the credentials in res.
func credentialRefusals(reg *engine.Registry, res *engine.Result) []refusal {
	byName := map[string]*refusal{}
	for _, it := range res.Items {
		if it.Status == engine.StatusFailed && refusedStatus(it.HTTPStatus) && byName[it.Change.Provider] == nil {
			byName[it.Change.Provider] = &refusal{svc: reg.Service(it.Change.Provider), status: it.HTTPStatus}
		}
	}
	for _, it := range res.Items {
		r := byName[it.Change.Provider]
		if r == nil {
			continue
		}
		r.changes++
		if it.Status == engine.StatusNotAttempted || it.Status == engine.StatusFailed && refusedStatus(it.HTTPStatus) {
			r.notMade++
		}
	}
	var out []refusal
	for _, name := range reg.Names() {
		if r := byName[name]; r != nil && r.svc != nil {
			out = append(out, *r)
		}
	}
	return out
}

// printApplySummary writes the apply's outcome to w: the headline and the
// counts, one message per service that refused the credentials, what was
// not attempted, and the first failures and warnings.
func (c *cli) printApplySummary(w io.Writer, t target, res *engine.Result, interrupted bool) {
	head, outcome := applyHeadline(res, interrupted)
	fmt.Fprintf(w, "\n%s\n", head)
	if outcome != "complete" {
		fmt.Fprintln(w, countsLine(res))
	}
	refusals := credentialRefusals(c.reg, res)
	refused := map[string]bool{}
	for _, r := range refusals {
		refused[r.svc.Name] = true
		fmt.Fprintf(w, "\n%s\n", r)
	}
	if res.Verified > 0 {
		fmt.Fprintf(w, "Verified %s against what the services hold after the write (fields they cannot read back are not: %s).\n",
			plural(res.Verified, "change", "changes"), c.unreadable())
	}
	if res.Skipped > 0 {
		fmt.Fprintf(w, "%d skipped: not in the service, and on_missing: skip (the report lists them; nothing was created).\n", res.Skipped)
	}
	var failed, warned []*engine.Item
	notAttempted := 0
	for _, it := range res.Items {
		if refused[it.Change.Provider] && (it.Status == engine.StatusNotAttempted || it.Status == engine.StatusFailed && refusedStatus(it.HTTPStatus)) {
			continue // said once for the service
		}
		switch it.Status {
		case engine.StatusFailed:
			failed = append(failed, it)
		case engine.StatusWarning:
			warned = append(warned, it)
		case engine.StatusNotAttempted:
			notAttempted++
		}
	}
	if notAttempted > 0 {
		fmt.Fprintf(w, "\n%d not attempted: run %s again to carry them out.\n", notAttempted, t.command("apply"))
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
			fmt.Fprintf(w, "  %s%s: %s\n", it.Change.Address, src, c.redact(c.withHintFlags(it.Message)))
		}
		if len(items) > maxFailuresShown {
			fmt.Fprintf(w, "  ... and %d more (see -report FILE.csv)\n", len(items)-maxFailuresShown)
		}
	}
	list("Failures", failed)
	list("Warnings (the service accepted the change and said this; nothing to redo)", warned)
}

// applyGCPercent is the GC's target during apply's calls (see Applying):
// the heap may grow to 1.2x what is live. The calls' garbage is small
// (a request, an answer and a record each); collecting more often costs a
// few percent of the CPU.
const applyGCPercent = 20
