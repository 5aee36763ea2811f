package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/engine/state/pg"
)

// stateSyncOptions are the options of state push and state pull.
type stateSyncOptions struct {
	file  string
	force bool
}

func (c *cli) newStatePushCmd() *cobra.Command {
	o := &stateSyncOptions{}
	cmd := &cobra.Command{
		Use:   "push FILE",
		Short: "Copy a state file into the configured state (-state)",
		Long: `Push makes the state in FILE (the state file format; a journal beside it is folded
in) the state that -state names, typically a PostgreSQL workspace: the way to move a
team's state from a file into the database. It holds the state lock while it works.

It refuses, unless -force, to replace a state of another lineage (another history)
that is not empty, or a newer state of the same lineage (a higher serial). The state
pushed keeps its lineage; its serial becomes higher than both.`,
		Example: `  reconcile -state postgres://me@db.example/reconcile state push reconcile.state.json
  RECONCILE_STATE=postgres://me@db/reconcile reconcile -workspace staging state push staging.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return c.statePushRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "replace a state of another lineage or a newer one")
	return cmd
}

func (c *cli) newStatePullCmd() *cobra.Command {
	o := &stateSyncOptions{}
	cmd := &cobra.Command{
		Use:   "pull [FILE]",
		Short: "Copy the configured state (-state) into a file, or to stdout",
		Long: `Pull writes the state that -state names (typically a PostgreSQL workspace) in the state
file format, to FILE (mode 0600, replaced atomically) or to stdout without FILE. It
takes no lock: it reads one consistent snapshot, journal folded in.

It refuses, unless -force, to overwrite a FILE that holds a state of another lineage
or that cannot be read as a state.`,
		Example: `  reconcile -state postgres://me@db.example/reconcile state pull backup.state.json
  reconcile state pull | head -1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.file = args[0]
			}
			return c.statePullRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite a FILE of another lineage, or one that cannot be read")
	return cmd
}

// describeState says what a state is, for messages.
func describeState(s *engine.State) string {
	return fmt.Sprintf("lineage %s, serial %d, %d addresses", s.Lineage, s.Serial, len(s.Resources))
}

func (c *cli) statePushRun(ctx context.Context, o *stateSyncOptions) error {
	if _, err := os.Stat(o.file); err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("state push: %v", err)}
	}
	src, err := state.NewFile(o.file, c.reg.Names()...).Load(ctx)
	if err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	b, cur, unlock, err := c.lockedState(ctx, c.resolve(false), "state push")
	if err != nil {
		return err
	}
	defer unlock()
	if f, ok := b.(*state.File); ok && sameFile(f.String(), o.file) {
		return &exitError{code: 1, msg: fmt.Sprintf("state push: %s is the configured state itself", o.file)}
	}
	empty := cur.Serial == 0 && len(cur.Resources) == 0
	switch {
	case o.force || empty:
	case cur.Lineage != src.Lineage:
		return &exitError{code: 1, msg: fmt.Sprintf("state push: refusing to replace the state %s (%s) with %s (%s), another lineage: another history of the state, not a copy of it; use -force to replace it", b, describeState(cur), o.file, describeState(src))}
	case cur.Serial > src.Serial:
		return &exitError{code: 1, msg: fmt.Sprintf("state push: refusing to replace the state %s (%s) with the older %s (%s); pull it first, or use -force to replace it", b, describeState(cur), o.file, describeState(src))}
	}
	src.Serial = max(src.Serial, cur.Serial)
	switch b := b.(type) {
	case *pg.Backend:
		err = b.Replace(ctx, src)
	case *state.File:
		err = replaceFile(ctx, b, cur, src)
	default:
		err = fmt.Errorf("the state %s cannot be replaced", b)
	}
	if err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	fmt.Fprintf(c.stdout, "Pushed %s to the state %s: %s.\n", o.file, b, describeState(src))
	return nil
}

// replaceFile saves src over the state file f, which holds cur. A file of
// another lineage is first kept as FILE.backup, since Save refuses to
// replace another lineage.
func replaceFile(ctx context.Context, f *state.File, cur, src *engine.State) error {
	if cur.Lineage != src.Lineage {
		// The real file, not a symlink to it: the link stays.
		if err := os.Rename(f.RealPath(), f.RealPath()+".backup"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return f.Save(ctx, src)
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func (c *cli) statePullRun(ctx context.Context, o *stateSyncOptions) error {
	b, err := c.resolve(false).backend(c.reg)
	if err != nil {
		return err
	}
	s, err := b.Load(ctx)
	if err != nil {
		return err
	}
	if o.file == "" {
		return state.Write(c.stdout, s, c.reg.Names()...)
	}
	if f, ok := b.(*state.File); ok && sameFile(f.String(), o.file) {
		return &exitError{code: 1, msg: fmt.Sprintf("state pull: %s is the configured state itself", o.file)}
	}
	if !o.force {
		if err := checkPullTarget(ctx, o.file, s); err != nil {
			return err
		}
	}
	pf, err := renameio.NewPendingFile(o.file, renameio.WithStaticPermissions(0o600))
	if err != nil {
		return fmt.Errorf("state pull: %w", err)
	}
	defer pf.Cleanup()
	if err := state.Write(pf, s, c.reg.Names()...); err != nil {
		return fmt.Errorf("state pull: writing %s: %w", o.file, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("state pull: writing %s: %w", o.file, err)
	}
	if o.force {
		// A journal beside the file belongs to the state it replaced.
		if err := os.Remove(o.file + ".journal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state pull: %w", err)
		}
	}
	fmt.Fprintf(c.stdout, "Pulled the state %s to %s: %s.\n", b, o.file, describeState(s))
	return nil
}

// checkPullTarget refuses to overwrite a file that holds another lineage,
// cannot be read as a state, or has a journal beside it.
func checkPullTarget(ctx context.Context, path string, s *engine.State) error {
	if _, err := os.Stat(path + ".journal"); err == nil {
		return &exitError{code: 1, msg: fmt.Sprintf("state pull: refusing to overwrite %s: an unfinished apply left %s.journal beside it; use -force to overwrite both", path, path)}
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state pull: %w", err)
	}
	defer fh.Close()
	old, err := state.Read(ctx, fh, path)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("state pull: refusing to overwrite %s, which is not a readable state (%v); use -force to overwrite it", path, err)}
	}
	if old.Lineage != s.Lineage {
		return &exitError{code: 1, msg: fmt.Sprintf("state pull: refusing to overwrite %s (%s) with another lineage (%s); use -force to overwrite it", path, describeState(old), describeState(s))}
	}
	return nil
}
