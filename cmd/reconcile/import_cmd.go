package main

import (
	"context"
	"errors"
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
	json             bool
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
			if !o.json {
				return c.importRun(cmd.Context(), o, humanImportView{c, o.target})
			}
			v := &jsonImportView{s: c.newJSONStream("import")}
			err := c.importRun(cmd.Context(), o, v)
			v.finish(err)
			return err
		},
	}
	o.manifestFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "limit to `ADDR` (PROVIDER/ID; * matches anything; repeatable)")
	f.BoolVar(&o.acceptUnreadable, "accept-unreadable", false, "record the manifests' values for fields the services cannot read back")
	f.BoolVar(&o.sandbox, "sandbox", false, "read from the built-in simulator")
	f.BoolVar(&o.json, "json", false, "print one JSON object per line")
	return cmd
}

// importView shows an import: its reads, then what it did.
type importView interface {
	hooks() operation.Hooks
	// done shows the result; failed lists the reads that failed.
	done(res *operation.ImportResult, failed []engine.ReadResult)
}

func (c *cli) importRun(ctx context.Context, o *importOptions, view importView) error {
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
		Hooks:            view.hooks(),
	})
	if res == nil {
		return err
	}
	var reads *operation.ReadsFailedError
	var failed []engine.ReadResult
	if errors.As(err, &reads) {
		failed = reads.Failed
	}
	view.done(res, failed)
	if err != nil {
		return err
	}
	if len(res.Imported) > 0 && !o.acceptUnreadable && !o.json {
		fmt.Fprintln(c.stdout, "Fields the services cannot read back ("+c.unreadable()+") were left out: the next apply sends them. Run "+o.target.command("plan")+" to see the real differences.")
	}
	return nil
}

// humanImportView lists what an import did on stdout.
type humanImportView struct {
	c *cli
	t target
}

func (v humanImportView) hooks() operation.Hooks { return v.c.hooks() }

func (v humanImportView) done(res *operation.ImportResult, _ []engine.ReadResult) {
	w := v.c.stdout
	list := func(title string, addrs []string) {
		if len(addrs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for _, a := range addrs {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	list("Imported (the state now holds what the services hold)", res.Imported)
	list("Not in the service (apply will create them)", res.Absent)
	list("Not in the service, and on_missing: skip (apply will skip them)", res.Missing)
	list("Already in the state (skipped)", res.Skipped)
	fmt.Fprintf(w, "\nImport complete! %d imported, %d not in the service, %d already in the state, %d failed.\n",
		len(res.Imported), len(res.Absent)+len(res.Missing), len(res.Skipped), res.Failed)
}

// jsonImportView is import -json: the reads and one import_result line
// per address, then the summary (jsonStream).
type jsonImportView struct {
	s   *jsonStream
	res *operation.ImportResult
}

func (v *jsonImportView) hooks() operation.Hooks { return v.s.hooks() }

func (v *jsonImportView) done(res *operation.ImportResult, failed []engine.ReadResult) {
	v.res = res
	line := func(addr, status, msg string) {
		v.s.emit(map[bool]string{true: "error", false: "info"}[status == "failed"], "import_result", addr+": "+msg, map[string]any{"address": addr, "status": status})
	}
	for _, a := range res.Imported {
		line(a, "imported", "imported: the state now holds what the service holds")
	}
	for _, a := range res.Absent {
		line(a, "absent", "not in the service: apply will create it")
	}
	for _, a := range res.Missing {
		line(a, "missing", "not in the service, and on_missing: skip: apply will skip it")
	}
	for _, a := range res.Skipped {
		line(a, "skipped", "already in the state: skipped")
	}
	for _, r := range failed {
		if !r.NotFound {
			line(r.Address, "failed", "the read failed: "+v.s.c.redact(r.Err.Error()))
		}
	}
}

func (v *jsonImportView) finish(err error) {
	v.s.failure(err)
	counts := map[string]int{}
	msg := "Import failed: nothing was imported."
	outcome := "error"
	if r := v.res; r != nil {
		counts = map[string]int{"imported": len(r.Imported), "absent": len(r.Absent), "missing": len(r.Missing), "skipped": len(r.Skipped), "failed": r.Failed}
		msg = fmt.Sprintf("Import complete! %d imported, %d not in the service, %d already in the state, %d failed.", len(r.Imported), len(r.Absent)+len(r.Missing), len(r.Skipped), r.Failed)
		outcome = "complete"
		if r.Failed > 0 {
			outcome = "failed"
		}
	}
	v.s.summary(msg, outcome, counts, err)
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
