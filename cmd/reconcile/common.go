package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/manifest"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/engine/state/pg"
)

// defaultManifests is where manifests are read from without -f.
const defaultManifests = "manifests"

// manifestFlags are the flags of every command that reads manifests.
type manifestFlags struct {
	files []string
}

func (m *manifestFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&m.files, "file", "f", nil, "manifest `PATH` (file or directory; repeatable; default manifests/)")
}

// loadManifests loads and validates the manifests, printing warnings and
// notes to stderr. Errors come back as engine.Diagnostics.
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
		fmt.Fprintln(c.stderr, dg.String())
	}
	return d, nil
}

// backend opens the state backend that -state names: a file, or a
// PostgreSQL database (postgres:// or postgresql://). Without -state,
// RECONCILE_STATE names it; -workspace (or RECONCILE_WORKSPACE) picks one of
// the database's states.
func (c *cli) backend() (engine.Backend, error) {
	path := c.stateLocation()
	if path == "" {
		return nil, &exitError{code: 1, msg: "-state must name a file or a postgres:// URL"}
	}
	if !pg.IsURL(path) {
		if c.workspace != "" && c.workspace != pg.DefaultWorkspace {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("-workspace %q: workspaces are for a PostgreSQL state (-state postgres://...); the state %s is a file", c.workspace, path)}
		}
		return state.NewFile(path, c.reg.Names()...), nil
	}
	ws := c.workspace
	if ws == "" {
		ws = c.getenv("RECONCILE_WORKSPACE")
	}
	b, err := pg.Open(path, ws, c.reg.Names()...)
	if err != nil {
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	return b, nil
}

// stateLocation returns what -state names: the flag when given, else
// RECONCILE_STATE when set, else the default. A command that picked its own
// default (-sandbox) keeps it.
func (c *cli) stateLocation() string {
	if c.stateFlag != nil && !c.stateFlag.Changed && c.statePath == c.stateFlag.DefValue {
		if env := c.getenv("RECONCILE_STATE"); env != "" {
			return env
		}
	}
	return c.statePath
}

// lockWait parses -lock-timeout.
func (c *cli) lockWait() (time.Duration, error) {
	d, err := time.ParseDuration(c.lockTimeout)
	if err != nil || d < 0 {
		return 0, &exitError{code: 1, msg: fmt.Sprintf("-lock-timeout %q: want a duration such as 30s or 5m", c.lockTimeout)}
	}
	return d, nil
}

// lockedState opens the backend, takes its lock for operation and loads the
// state. The caller must call the returned unlock.
func (c *cli) lockedState(ctx context.Context, operation string) (engine.Backend, *engine.State, func(), error) {
	b, err := c.backend()
	if err != nil {
		return nil, nil, nil, err
	}
	wait, err := c.lockWait()
	if err != nil {
		return nil, nil, nil, err
	}
	lock, err := b.Lock(ctx, operation, wait)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock := func() {
		if err := lock.Unlock(); err != nil {
			fmt.Fprintf(c.stderr, "Warning: releasing the state lock: %v\n", err)
		}
	}
	s, err := b.Load(ctx)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return b, s, unlock, nil
}

// writePrivateFile writes data to path atomically with mode 0600: plans and
// reports may hold customer data.
func writePrivateFile(path string, data []byte) error {
	return renameio.WriteFile(path, data, 0o600)
}
