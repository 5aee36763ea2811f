package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

type importOptions struct {
	manifestFlags
	targets          []string
	acceptUnreadable bool
	sandbox          bool
	target           target
}

func (c *cli) newImportCmd() *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import [flags]",
		Short: "Adopt customers that already exist in the services",
		Long: `Import reads the customers that are in the manifests but not in the state from their
services, and records what the services hold, so that the first plan shows only real
differences instead of overwriting them with creates. Customers a service does not have
are left for apply to create; addresses already in the state are skipped. Both are listed.

Fields a service cannot read back (` + c.unreadable() + `) are left out of the state,
so the first apply sends them; -accept-unreadable records the manifests' values for
them instead, when you know the services already hold them.`,
		Example: `  reconcile import
  reconcile import -target 'tomticket/*'
  reconcile import -accept-unreadable && reconcile plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.target = c.resolve(o.sandbox)
			return c.importRun(cmd.Context(), o)
		},
	}
	o.manifestFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "limit to `ADDR` (PROVIDER/ID; * matches anything; repeatable)")
	f.BoolVar(&o.acceptUnreadable, "accept-unreadable", false, "record the manifests' values for fields the services cannot read back")
	f.BoolVar(&o.sandbox, "sandbox", false, "read from the built-in simulator")
	return cmd
}

func (c *cli) importRun(ctx context.Context, o *importOptions) error {
	b, err := o.target.backend(c.reg)
	if err != nil {
		return err
	}
	if o.target.lockErr != nil {
		return o.target.lockErr
	}
	res, err := c.runner(o.target, b).Import(ctx, operation.ImportRequest{
		Manifests:        func() (*engine.Desired, error) { return c.loadManifests(&o.manifestFlags) },
		Targets:          o.targets,
		AcceptUnreadable: o.acceptUnreadable,
		Hooks:            c.hooks(),
	})
	if res == nil {
		return err
	}
	list := func(title string, addrs []string) {
		if len(addrs) == 0 {
			return
		}
		fmt.Fprintf(c.stdout, "%s:\n", title)
		for _, a := range addrs {
			fmt.Fprintf(c.stdout, "  %s\n", a)
		}
	}
	list("Imported (the state now holds what the services hold)", res.Imported)
	list("Not in the service (apply will create them)", res.Absent)
	list("Not in the service, and on_missing: skip (apply will skip them)", res.Missing)
	list("Already in the state (skipped)", res.Skipped)
	fmt.Fprintf(c.stdout, "\nImport complete! %d imported, %d not in the service, %d already in the state, %d failed.\n",
		len(res.Imported), len(res.Absent)+len(res.Missing), len(res.Skipped), res.Failed)
	if err != nil {
		return err
	}
	if len(res.Imported) > 0 && !o.acceptUnreadable {
		fmt.Fprintln(c.stdout, "Fields the services cannot read back ("+c.unreadable()+") were left out: the next apply sends them. Run reconcile plan to see the real differences.")
	}
	return nil
}

// unreadable names the fields the services cannot read back, from their
// wire tables: "bonifiq enabled and tier". A family of keys (tier.id,
// tier.comments...) is named once, by its first part.
func (c *cli) unreadable() string {
	var parts []string
	for _, svc := range c.reg.Services() {
		var names []string
		for _, k := range svc.Keys {
			if k.Readable || k.Param || k.Shared || k.Prefix {
				continue
			}
			name, _, _ := strings.Cut(k.Field, ".")
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			parts = append(parts, svc.Name+" "+joinAnd(names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
