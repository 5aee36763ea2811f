package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
)

// sandboxEnv starts the in-process sandbox for -sandbox and points the
// providers at it. The returned stop saves its data and shuts it down.
func (c *cli) sandboxEnv() (stop func(), err error) {
	sb, env, err := inProcessSandbox(c.reg, c.statePath)
	if err != nil {
		return nil, err
	}
	orig := c.getenv
	c.getenv = func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return orig(k)
	}
	return func() {
		if err := sb.Save(); err != nil {
			fmt.Fprintf(c.stderr, "Warning: saving the sandbox data: %v\n", err)
		}
		sb.Close()
		c.getenv = orig
	}, nil
}

// readTargets lists the read requests for the desired addresses matching
// targets, split by whether the state holds them.
func (c *cli) readTargets(d *engine.Desired, st *engine.State, targets []string) (inState, notInState []engine.ReadRequest) {
	for _, cu := range d.Customers {
		for i, prov := range c.reg.Names() {
			if cu.Managed&(1<<i) == 0 {
				continue
			}
			addr := engine.Address(prov, cu.ID)
			if !engine.MatchesAny(targets, addr) {
				continue
			}
			r := c.reg.Resource(cu, prov)
			if e := st.Resources[addr]; e != nil {
				inState = append(inState, engine.ReadRequest{Resource: r, IDs: e.IDs})
			} else {
				notInState = append(notInState, engine.ReadRequest{Resource: r})
			}
		}
	}
	return inState, notInState
}

// readAll reads the customers from their services with the apply machinery
// (rate limits, retries, progress on stderr). Failed reads come back as
// one error listing them: nothing is planned or recorded from a failed read.
func (c *cli) readAll(ctx context.Context, reqs []engine.ReadRequest, cfgs map[string]engine.ProviderConfig, provs map[string]engine.Provider, parallelism int) ([]engine.ReadResult, error) {
	need, totals := map[string]bool{}, map[string]int{}
	for _, r := range reqs {
		need[r.Resource.Provider] = true
		totals[r.Resource.Provider]++
	}
	if err := c.checkReady(need, provs, "Reading the services needs their credentials; nothing was read."); err != nil {
		return nil, err
	}
	prog := newProgress(c, totals, false)
	prog.start()
	results := engine.ReadAll(ctx, reqs, engine.ApplyOptions{Registry: c.reg, Providers: provs, Configs: cfgs, Parallelism: parallelism, Events: prog.event})
	prog.stop()
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("  %s: %v", r.Address, r.Err))
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		more := ""
		if len(failed) > maxFailuresShown {
			more = fmt.Sprintf("\n  ... and %d more", len(failed)-maxFailuresShown)
			failed = failed[:maxFailuresShown]
		}
		return results, &exitError{code: 1, msg: fmt.Sprintf("%d of %d reads failed; nothing was planned or recorded from them:\n%s%s", len(failed), len(results), strings.Join(failed, "\n"), more)}
	}
	return results, nil
}

// refresh reads every targeted customer the state holds and returns what
// the services hold, by address, for MakePlan.
func (c *cli) refresh(ctx context.Context, d *engine.Desired, st *engine.State, targets []string, provs map[string]engine.Provider) (map[string]engine.ReadResult, error) {
	reqs, _ := c.readTargets(d, st, targets)
	results, err := c.readAll(ctx, reqs, d.Providers, provs, 10)
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.ReadResult, len(results))
	missing := 0
	for _, r := range results {
		out[r.Address] = r
		if r.NotFound {
			missing++
		}
	}
	fmt.Fprintf(c.stderr, "Refreshed %s from the services", plural(len(results), "customer", "customers"))
	if missing > 0 {
		fmt.Fprintf(c.stderr, "; %d no longer there (planned as creates)", missing)
	}
	fmt.Fprintln(c.stderr, ".")
	return out, nil
}

type importOptions struct {
	manifestFlags
	targets          []string
	acceptUnreadable bool
	sandbox          bool
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

Fields a service cannot read back (bonifiq enabled and tier) are left out of the state,
so the first apply sends them; -accept-unreadable records the manifests' values for
them instead, when you know the services already hold them.`,
		Example: `  reconcile import
  reconcile import -target 'tomticket/*'
  reconcile import -accept-unreadable && reconcile plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("state") && o.sandbox {
				c.statePath = sandboxStateFile
			}
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
	backend, st, unlock, err := c.lockedState(ctx, "import")
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
	d, err := c.loadManifests(&o.manifestFlags)
	if err != nil {
		return err
	}
	provs, err := c.providers(d)
	if err != nil {
		return err
	}
	skipped, reqs := c.readTargets(d, st, o.targets)
	results, readErr := c.readAll(ctx, reqs, d.Providers, provs, 10)
	if results == nil {
		return readErr
	}
	var imported, absent []string
	for i, r := range results {
		if r.Err != nil || r.NotFound {
			if r.NotFound {
				absent = append(absent, r.Address)
			}
			continue
		}
		st.Resources[r.Address] = importedEntry(reqs[i].Resource, r.Observed, o.acceptUnreadable)
		imported = append(imported, r.Address)
	}
	if len(imported) > 0 {
		if err := backend.Save(ctx, st); err != nil {
			return fmt.Errorf("saving the state: %w", err)
		}
	}
	list := func(title string, addrs []string) {
		if len(addrs) == 0 {
			return
		}
		fmt.Fprintf(c.stdout, "%s:\n", title)
		sort.Strings(addrs)
		for _, a := range addrs {
			fmt.Fprintf(c.stdout, "  %s\n", a)
		}
	}
	list("Imported (the state now holds what the services hold)", imported)
	list("Not in the service (apply will create them)", absent)
	var skippedAddrs []string
	for _, r := range skipped {
		skippedAddrs = append(skippedAddrs, r.Resource.Address())
	}
	list("Already in the state (skipped)", skippedAddrs)
	fmt.Fprintf(c.stdout, "\nImport complete! %d imported, %d not in the service, %d already in the state, %d failed.\n",
		len(imported), len(absent), len(skippedAddrs), len(results)-len(imported)-len(absent))
	if readErr != nil {
		return readErr
	}
	if len(imported) > 0 && !o.acceptUnreadable {
		fmt.Fprintln(c.stdout, "Fields the services cannot read back (bonifiq enabled and tier) were left out: the next apply sends them. Run reconcile plan to see the real differences.")
	}
	return nil
}

// importedEntry is the state entry for a customer read from its service:
// the managed fields it could read, and, with acceptUnreadable, the
// manifests' values for the others.
func importedEntry(r *engine.Resource, obs *engine.Observed, acceptUnreadable bool) *engine.Entry {
	e := &engine.Entry{Provider: r.Provider, ID: r.ID, IDs: obs.IDs.Clone()}
	for _, f := range r.Fields {
		if v, ok := obs.Fields.Get(f.Name); ok {
			e.Fields = append(e.Fields, engine.Field{Name: f.Name, Value: v})
		} else if acceptUnreadable {
			e.Fields = append(e.Fields, f)
		}
	}
	for _, p := range r.Params {
		if p.Name == "gid" || p.Name == "id_type" {
			if _, has := e.IDs.Get(p.Name); !has {
				e.IDs = e.IDs.Set(p.Name, p.Value)
			}
		}
	}
	e.Fields.Sort()
	return e
}
