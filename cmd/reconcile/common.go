package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/manifest"
)

// defaultManifests is where manifests are read from without -f.
const defaultManifests = "manifests"

// manifestFlags are the flags of every command that reads manifests.
type manifestFlags struct {
	files []string
	// notes says to print the loader's notes (ignored columns, skipped
	// files) as well as its warnings: validate does, so that plan and apply
	// do not repeat them on every run.
	notes bool
}

func (m *manifestFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&m.files, "file", "f", nil, "manifest `PATH` (file or directory; repeatable; default manifests/)")
}

// loadManifests loads and validates the manifests, printing warnings (and,
// for validate, notes) to stderr. Errors come back as engine.Diagnostics.
func (c *cli) loadManifests(m *manifestFlags) (*engine.Desired, error) {
	paths := m.files
	if len(paths) == 0 {
		if _, err := os.Stat(defaultManifests); errors.Is(err, fs.ErrNotExist) {
			return nil, &exitError{code: 1, msg: "no manifests: manifests/ does not exist here; name manifest files or directories with -f PATH"}
		}
		paths = []string{defaultManifests}
	}
	d, diags := manifest.Load(c.reg, paths)
	if diags.HasErrors() {
		return nil, diags
	}
	for _, dg := range diags {
		if dg.Severity != engine.Note || m.notes {
			fmt.Fprintln(c.stderr, dg.String())
		}
	}
	return d, nil
}
