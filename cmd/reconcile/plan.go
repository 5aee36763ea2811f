package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine/operation"
)

type planOptions struct {
	manifestFlags
	targets          []string
	json             bool
	markdown         bool
	out              string
	detailedExitcode bool
	sandbox          bool
	refresh          bool
	target           target
}

func (c *cli) newPlanCmd() *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan [flags]",
		Short: "Show what would change in each service, offline",
		Long: `Plan compares the manifests with the state (what reconcile last applied) and shows,
for every customer in every service, what apply would change: + create, ~ update,
- disable or forget. It reads no service and needs no credentials.

Each change lists its fields with the old and new values, and the summary line
counts changes per action. Under it, the calls apply will make per service and the
time they take at the configured rate limits.`,
		Example: `  reconcile plan
  reconcile plan -f manifests/ -target 'tomticket/*'
  reconcile plan -out plan.json && reconcile apply plan.json
  reconcile plan -markdown > comment.md
  reconcile plan -json | jq .summary`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.json && o.markdown {
				return &exitError{code: 1, msg: "-json and -markdown cannot be used together: choose one"}
			}
			o.target = c.resolve(o.sandbox)
			return c.planRun(cmd.Context(), o)
		},
	}
	o.manifestFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "limit to `ADDR` (PROVIDER/ID; * matches anything; repeatable)")
	f.BoolVar(&o.json, "json", false, "print the plan as one JSON document")
	f.BoolVar(&o.markdown, "markdown", false, "print the plan as a pull-request comment")
	f.StringVar(&o.out, "out", "", "save the plan to `FILE` for reconcile apply FILE")
	f.BoolVar(&o.detailedExitcode, "detailed-exitcode", false, "exit 0 with no changes, 2 with changes, 1 on error")
	f.BoolVar(&o.refresh, "refresh", false, "read every targeted customer from its service first and plan against what it holds")
	f.BoolVar(&o.sandbox, "sandbox", false, "plan against the built-in simulator's state ("+sandboxStateFile+")")
	return cmd
}

func (c *cli) planRun(ctx context.Context, o *planOptions) error {
	// A plan, shown, allocates what it keeps (see holdGC): the lazy views
	// build each segment of creates in the memory of the one before.
	defer holdGC(planHeapFloor)()
	d, err := c.loadManifests(&o.manifestFlags)
	if err != nil {
		return err
	}
	b, err := o.target.backend(c.reg)
	if err != nil {
		return err
	}
	view := c.newPlanView(o.target, o.json, o.markdown)
	res, err := c.runner(o.target, b).Plan(ctx, operation.PlanRequest{
		Desired: d,
		Targets: o.targets,
		Refresh: o.refresh,
		Out:     o.out,
		Lazy:    true, // shown and saved, not applied
		Hooks:   c.hooks(),
	})
	if err != nil {
		return err
	}
	if err := view.show(res.Plan, res.StateAddresses); err != nil {
		return err
	}
	if o.out != "" {
		view.saved(o.out)
	}
	if o.detailedExitcode && res.Plan.Summary.Changes() > 0 {
		return silentExit(2)
	}
	return nil
}
