package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func (c *cli) newStateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "List, inspect or remove addresses in the state",
		Long: `The state records, per address (PROVIDER/ID), the last applied value of every managed
field. These commands read it, or remove addresses from it so that reconcile stops
managing them (the services are not called).`,
	}
	cmd.AddCommand(c.newStateListCmd(), c.newStateShowCmd(), c.newStateRmCmd(), c.newStatePushCmd(), c.newStatePullCmd())
	return cmd
}

// sandboxFlag registers -sandbox on a command that reads or edits the
// state: the built-in simulator's state (reconcile.sandbox.state.json).
func (c *cli) sandboxFlag(cmd *cobra.Command, sandbox *bool) {
	cmd.Flags().BoolVar(sandbox, "sandbox", false, "the built-in simulator's state ("+sandboxStateFile+")")
}

func (c *cli) newStateListCmd() *cobra.Command {
	var sandbox bool
	cmd := &cobra.Command{
		Use:     "list [PATTERN]",
		Short:   "List the addresses in the state",
		Example: "  reconcile state list\n  reconcile state list 'bonifiq/*'",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := c.resolve(sandbox).backend(c.reg)
			if err != nil {
				return err
			}
			s, err := b.Load(cmd.Context())
			if err != nil {
				return err
			}
			pattern := ""
			if len(args) == 1 {
				pattern = args[0]
			}
			bw := bufio.NewWriter(c.stdout)
			for _, addr := range sortedAddresses(s, pattern) {
				bw.WriteString(addr)
				bw.WriteByte('\n')
			}
			return bw.Flush()
		},
	}
	c.sandboxFlag(cmd, &sandbox)
	return cmd
}

func (c *cli) newStateShowCmd() *cobra.Command {
	var asJSON, sandbox bool
	cmd := &cobra.Command{
		Use:     "show ADDR",
		Short:   "Show one address's recorded fields",
		Example: "  reconcile state show bonifiq/1001",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := c.resolve(sandbox)
			b, err := t.backend(c.reg)
			if err != nil {
				return err
			}
			s, err := b.Load(cmd.Context())
			if err != nil {
				return err
			}
			if s.Resources[args[0]] == nil {
				return &exitError{code: 1, msg: fmt.Sprintf("no address %q in the state %s (see %s)", args[0], b, t.command("state list"))}
			}
			if asJSON {
				return writeStateJSON(c.stdout, s, args[0])
			}
			bw := bufio.NewWriter(c.stdout)
			writeEntry(bw, s.Resources[args[0]])
			return bw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.sandboxFlag(cmd, &sandbox)
	return cmd
}

func (c *cli) newStateRmCmd() *cobra.Command {
	var sandbox bool
	cmd := &cobra.Command{
		Use:   "rm ADDR|PATTERN...",
		Short: "Stop managing addresses: remove them from the state",
		Long: `Remove addresses from the state. The services are not called: the customers stay as
they are there. If a manifest still declares them, the next plan creates them again.

Each argument is an address or, as for state list and -target, a pattern in which *
matches any run of characters ('tomticket/*'). An argument that matches nothing in the
state is an error, and then nothing is removed.`,
		Example: "  reconcile state rm bonifiq/1001 tomticket/1001\n  reconcile state rm 'tomticket/*'",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, s, unlock, err := c.lockedState(cmd.Context(), c.resolve(sandbox), "state rm")
			if err != nil {
				return err
			}
			defer unlock()
			var missing, remove []string
			for _, a := range args {
				matched := sortedAddresses(s, a)
				if len(matched) == 0 {
					missing = append(missing, a)
				}
				remove = append(remove, matched...)
			}
			if len(missing) > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("not in the state: %s; nothing was removed", strings.Join(missing, ", "))}
			}
			remove = slices.Compact(slices.Sorted(slices.Values(remove)))
			for _, a := range remove {
				delete(s.Resources, a)
				fmt.Fprintf(c.stdout, "Removed %s\n", a)
			}
			if err := b.Save(cmd.Context(), s); err != nil {
				return fmt.Errorf("saving the state: %w", err)
			}
			fmt.Fprintf(c.stdout, "Removed %d address(es) from the state %s.\n", len(remove), b)
			return nil
		},
	}
	c.sandboxFlag(cmd, &sandbox)
	return cmd
}

func (c *cli) newForceUnlockCmd() *cobra.Command {
	var force, sandbox bool
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Release a state lock whose holder is gone",
		Long: `Force-unlock removes the state lock with the given ID. A local lock dies with its
process, so this is for locks that outlive their holder (a crashed runner on shared
storage, a shared backend). The ID is in the message a held lock gives.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := c.resolve(sandbox).backend(c.reg)
			if err != nil {
				return err
			}
			if !force {
				fmt.Fprintf(c.stdout, "Do you really want to force-unlock the state %s (lock %s)? Only 'yes' will be accepted: ", b, args[0])
				line, _ := bufio.NewReader(c.stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return &exitError{code: 1, msg: "force-unlock cancelled"}
				}
			}
			if err := b.ForceUnlock(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "The state %s has been unlocked.\n", b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	c.sandboxFlag(cmd, &sandbox)
	return cmd
}
