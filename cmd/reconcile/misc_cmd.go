package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
)

func (c *cli) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(c.stdout, "reconcile %s (%s, state format %s, plan format %s)\n", version, runtime.Version(), engine.StateFormatVersion, engine.PlanFormatVersion)
			return nil
		},
	}
}

func (c *cli) newValidateCmd() *cobra.Command {
	m := &manifestFlags{}
	cmd := &cobra.Command{
		Use:   "validate [flags]",
		Short: "Check the manifests and report every problem",
		Long: `Validate reads the manifests and checks every value against the manifest reference
(README.md): types, lengths, e-mails, countries, enums, duplicate ids, unknown keys.
It prints every problem in every file at once, as FILE:LINE:COL: message, and exits 1
if there is any error. It calls no service.`,
		Example: "  reconcile validate\n  reconcile validate -f customers.yaml -f export/",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			d, err := c.loadManifests(m)
			if err != nil {
				return err
			}
			names := c.reg.Names()
			counts := make([]int, len(names))
			for _, cu := range d.Customers {
				for i := range names {
					if cu.Managed&(1<<i) != 0 {
						counts[i]++
					}
				}
			}
			fmt.Fprintf(c.stdout, "The manifests are valid: %s (", plural(len(d.Customers), "customer", "customers"))
			for i, name := range names {
				if i > 0 {
					fmt.Fprint(c.stdout, ", ")
				}
				fmt.Fprintf(c.stdout, "%s %s", name, thousands(counts[i]))
			}
			fmt.Fprintln(c.stdout, ").")
			return nil
		},
	}
	m.register(cmd)
	return cmd
}
