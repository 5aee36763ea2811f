package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

type showOptions struct {
	json    bool
	sandbox bool
}

func (c *cli) newShowCmd() *cobra.Command {
	o := &showOptions{}
	cmd := &cobra.Command{
		Use:   "show [PLANFILE]",
		Short: "Print the state, or a plan saved with plan -out",
		Long: `Show prints what the state records (the last applied value of every managed field,
per address, and the services' own ids), or, given a plan saved with plan -out, that
plan as plan printed it.`,
		Example: `  reconcile show
  reconcile show -json
  reconcile plan -out plan.json && reconcile show plan.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := c.resolve(o.sandbox)
			if len(args) == 1 {
				return c.showPlan(t, args[0], o)
			}
			b, err := t.backend(c.reg)
			if err != nil {
				return err
			}
			s, err := b.Load(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return writeStateJSON(c.stdout, s, "")
			}
			return renderState(c.stdout, s, "")
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	c.sandboxFlag(cmd, &o.sandbox)
	return cmd
}

func (c *cli) showPlan(t target, path string, o *showOptions) error {
	p, planned, err := operation.ReadPlanFile(c.reg, path)
	if err != nil {
		return err
	}
	if err := c.newPlanView(t, o.json, false).show(p, -1); err != nil {
		return err
	}
	if !o.json {
		where := "an unknown target (saved by an older reconcile: plan again)"
		if planned != nil {
			where = planned.String()
		}
		fmt.Fprintf(c.stdout, "\nThis plan goes to %s.\n", where)
	}
	return nil
}

// sortedAddresses lists the state's addresses matching pattern ("" = all).
func sortedAddresses(s *engine.State, pattern string) []string {
	out := make([]string, 0, len(s.Resources))
	for addr := range s.Resources {
		if pattern == "" || engine.Glob(pattern, addr) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

// renderState prints every entry matching pattern with its fields.
func renderState(w io.Writer, s *engine.State, pattern string) error {
	bw := bufio.NewWriter(w)
	addrs := sortedAddresses(s, pattern)
	if len(addrs) == 0 && pattern == "" {
		fmt.Fprintln(bw, "The state is empty.")
		return bw.Flush()
	}
	for i, addr := range addrs {
		if i > 0 {
			bw.WriteString("\n")
		}
		writeEntry(bw, s.Resources[addr])
	}
	return bw.Flush()
}

func writeEntry(w *bufio.Writer, e *engine.Entry) {
	fmt.Fprintf(w, "%s:\n", e.Address())
	width := 0
	for _, f := range e.Fields {
		width = max(width, len(f.Name))
	}
	for _, f := range e.Fields {
		fmt.Fprintf(w, "    %-*s = %s\n", width, f.Name, f.Value.GoString())
	}
	for _, f := range e.IDs {
		fmt.Fprintf(w, "    # %s = %s\n", f.Name, f.Value.GoString())
	}
}

type stateEntryDoc struct {
	Address string        `json:"address"`
	Fields  engine.Fields `json:"fields"`
	IDs     engine.Fields `json:"ids,omitempty"`
}

// writeStateJSON prints the entries matching pattern as one JSON document.
func writeStateJSON(w io.Writer, s *engine.State, pattern string) error {
	doc := struct {
		FormatVersion string          `json:"format_version"`
		Lineage       string          `json:"lineage"`
		Serial        int64           `json:"serial"`
		Resources     []stateEntryDoc `json:"resources"`
	}{engine.StateFormatVersion, s.Lineage, s.Serial, []stateEntryDoc{}}
	for _, addr := range sortedAddresses(s, pattern) {
		e := s.Resources[addr]
		fields := e.Fields
		if fields == nil {
			fields = engine.Fields{}
		}
		doc.Resources = append(doc.Resources, stateEntryDoc{addr, fields, e.IDs})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
