package main

import (
	"fmt"
	"io"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

// planView shows a plan. A command chooses one from its flags, once.
type planView interface {
	// show renders p, made against a state of stateAddresses addresses
	// (-1: unknown, a saved plan shown alone).
	show(p *engine.Plan, stateAddresses int) error
	// saved says that plan -out saved the plan to path.
	saved(path string)
}

// humanPlanView is the plan as SPEC 3.3 shows it, coloured on a terminal.
// The commands it suggests carry the target's flags.
type humanPlanView struct {
	w     io.Writer
	color bool
	t     target
}

func (v humanPlanView) show(p *engine.Plan, stateAddresses int) error {
	return renderPlan(v.w, p, v.color, stateAddresses, v.t.flags())
}

func (v humanPlanView) saved(path string) {
	fmt.Fprintf(v.w, "\nSaved the plan to %s. To apply exactly these changes, run:\n    %s\n", path, v.t.command("apply", path))
}

// jsonPlanView is the plan as one JSON document (-json).
type jsonPlanView struct{ w io.Writer }

func (v jsonPlanView) show(p *engine.Plan, _ int) error { return engine.WritePlanJSON(v.w, p, false) }
func (jsonPlanView) saved(string)                       {}

// markdownPlanView is the plan as a pull-request comment (-markdown).
type markdownPlanView struct {
	w io.Writer
	t target
}

func (v markdownPlanView) show(p *engine.Plan, _ int) error {
	return renderMarkdown(v.w, p, v.t.flags())
}
func (markdownPlanView) saved(string) {}

// newPlanView chooses the plan view of -json and -markdown.
func (c *cli) newPlanView(t target, asJSON, markdown bool) planView {
	switch {
	case asJSON:
		return jsonPlanView{c.stdout}
	case markdown:
		return markdownPlanView{c.stdout, t}
	}
	return humanPlanView{w: c.stdout, color: t.color, t: t}
}

// applyView is how apply shows itself, chosen once from -json: the plan,
// the reads of -refresh, the progress of its calls, their outcome, and how
// the output ends.
type applyView interface {
	// plan shows the plan about to be applied.
	plan(p *engine.Plan, stateAddresses int) error
	// hooks are what the plan's reads and warnings show.
	hooks() operation.Hooks
	// progress follows the calls, totals[service] of them.
	progress(totals map[string]int) progressView
	// done shows what the calls did; interrupted says that Ctrl-C stopped
	// them.
	done(res *engine.Result, interrupted bool)
	// finish ends the output once the command is over, err being what it
	// returns (nil: success).
	finish(err error)
}

// humanApplyView is apply for a person: the plan and the outcome on
// stdout, the progress on stderr.
type humanApplyView struct {
	c *cli
	t target
}

func (v humanApplyView) plan(p *engine.Plan, n int) error {
	return renderPlan(v.c.stdout, p, v.t.color, n, v.t.flags())
}
func (v humanApplyView) hooks() operation.Hooks { return v.c.hooks() }
func (v humanApplyView) progress(totals map[string]int) progressView {
	return newLiveProgress(v.c, totals, "calls")
}
func (v humanApplyView) done(res *engine.Result, interrupted bool) {
	v.c.printApplySummary(v.c.stdout, v.t, res, interrupted)
}
func (humanApplyView) finish(error) {}

func (c *cli) newApplyView(t target, asJSON bool) applyView {
	if asJSON {
		return &jsonApplyView{s: c.newJSONStream("apply")}
	}
	return humanApplyView{c: c, t: t}
}

// hooks are what every operation that plans or reads shows: warnings on
// stderr, the live progress of reads, and what a refresh found.
func (c *cli) hooks() operation.Hooks {
	return operation.Hooks{
		Warnings: func(ds engine.Diagnostics) {
			for _, dg := range ds {
				fmt.Fprintln(c.stderr, dg.String())
			}
		},
		Reading: func(totals map[string]int) (func(engine.Event), func()) {
			pg := newLiveProgress(c, totals, "reads")
			pg.start()
			return pg.event, pg.stop
		},
		Refreshed: func(read, missing int) {
			fmt.Fprintf(c.stderr, "Refreshed %s from the services", plural(read, "customer", "customers"))
			if missing > 0 {
				fmt.Fprintf(c.stderr, "; %d no longer there (planned as creates)", missing)
			}
			fmt.Fprintln(c.stderr, ".")
		},
	}
}
