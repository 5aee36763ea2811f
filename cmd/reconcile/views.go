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
type humanPlanView struct {
	w     io.Writer
	color bool
}

func (v humanPlanView) show(p *engine.Plan, stateAddresses int) error {
	return renderPlan(v.w, p, v.color, stateAddresses)
}

func (v humanPlanView) saved(path string) {
	fmt.Fprintf(v.w, "\nSaved the plan to %s. To apply exactly these changes, run:\n    reconcile apply %s\n", path, path)
}

// jsonPlanView is the plan as one JSON document (-json).
type jsonPlanView struct{ w io.Writer }

func (v jsonPlanView) show(p *engine.Plan, _ int) error { return engine.WritePlanJSON(v.w, p, false) }
func (jsonPlanView) saved(string)                       {}

// markdownPlanView is the plan as a pull-request comment (-markdown).
type markdownPlanView struct{ w io.Writer }

func (v markdownPlanView) show(p *engine.Plan, _ int) error { return renderMarkdown(v.w, p) }
func (markdownPlanView) saved(string)                       {}

// newPlanView chooses the plan view of -json and -markdown.
func (c *cli) newPlanView(t target, asJSON, markdown bool) planView {
	switch {
	case asJSON:
		return jsonPlanView{c.stdout}
	case markdown:
		return markdownPlanView{c.stdout}
	}
	return humanPlanView{w: c.stdout, color: t.color}
}

// applyView is how apply shows itself, chosen once from -json: the plan,
// the progress of its calls, and where the summary goes. With -json, the
// plan document and one event per line go to stdout, the summary to stderr.
type applyView struct {
	plan     planView
	progress func(totals map[string]int) progressView
	summary  io.Writer
}

func (c *cli) newApplyView(t target, asJSON bool) applyView {
	if asJSON {
		return applyView{
			plan:     jsonPlanView{c.stdout},
			progress: func(map[string]int) progressView { return newJSONProgress(c) },
			summary:  c.stderr,
		}
	}
	return applyView{
		plan:     humanPlanView{w: c.stdout, color: t.color},
		progress: func(totals map[string]int) progressView { return newLiveProgress(c, totals) },
		summary:  c.stdout,
	}
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
			pg := newLiveProgress(c, totals)
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
