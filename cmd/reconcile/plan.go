package main

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
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
			if !cmd.Flags().Changed("state") && o.sandbox {
				c.statePath = sandboxStateFile
			}
			return c.planRun(cmd, o)
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
	cmd.MarkFlagsMutuallyExclusive("json", "markdown")
	return cmd
}

func (c *cli) planRun(cmd *cobra.Command, o *planOptions) error {
	ctx := cmd.Context()
	d, err := c.loadManifests(&o.manifestFlags)
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return err
	}
	s, err := b.Load(ctx)
	if err != nil {
		return err
	}
	if o.sandbox && o.refresh {
		stop, err := c.sandboxEnv()
		if err != nil {
			return err
		}
		defer stop()
	}
	provs, err := c.providers(d)
	if err != nil {
		return err
	}
	opts := engine.PlanOptions{Targets: o.targets, Providers: provs}
	if o.refresh {
		if opts.Refresh, err = c.refresh(ctx, d, s, o.targets, provs); err != nil {
			return err
		}
	}
	p, diags := engine.MakePlan(d, s, opts)
	if diags.HasErrors() {
		return diags
	}
	for _, dg := range diags {
		fmt.Fprintln(c.stderr, dg.String())
	}
	if o.out != "" {
		var buf bytes.Buffer
		if err := engine.WritePlanJSON(&buf, p, true); err != nil {
			return err
		}
		if err := writePrivateFile(o.out, buf.Bytes()); err != nil {
			return fmt.Errorf("saving the plan: %w", err)
		}
	}
	switch {
	case o.json:
		err = engine.WritePlanJSON(c.stdout, p, false)
	case o.markdown:
		err = renderMarkdown(c.stdout, p)
	default:
		err = renderPlan(c.stdout, p, c.color(c.stdout), len(s.Resources))
		if err == nil && o.out != "" {
			fmt.Fprintf(c.stdout, "\nSaved the plan to %s. To apply exactly these changes, run:\n    reconcile apply %s\n", o.out, o.out)
		}
	}
	if err != nil {
		return err
	}
	if o.detailedExitcode && p.Summary.Changes() > 0 {
		return silentExit(2)
	}
	return nil
}
