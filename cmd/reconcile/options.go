package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/engine/state/pg"
)

// target is where one command works: the state, the workspace, the lock
// timeout, colour, and the environment the services' clients read. A
// command resolves it once from the flags and the environment, before it
// does anything else, and nothing changes it afterwards: no step of the
// command can point it elsewhere.
type target struct {
	// sandbox says that the services are the in-process simulator (-sandbox).
	sandbox bool
	// state locates the state: -state when given, else RECONCILE_STATE
	// (not for -sandbox, whose default is its own file), else the default.
	state string
	// workspace is -workspace; workspaceEnv is RECONCILE_WORKSPACE, which a
	// PostgreSQL state falls back to.
	workspace, workspaceEnv string
	// lockTimeout is -lock-timeout; lockErr says why it is invalid, for the
	// commands that take the lock.
	lockTimeout time.Duration
	lockErr     error
	// color says whether to colour what goes to stdout.
	color bool
	// stateGiven and workspaceGiven say that -state and -workspace were
	// given: the commands reconcile suggests then repeat them (flags).
	stateGiven, workspaceGiven bool
	// env is the environment the services' clients read. A sandbox's holds
	// none of the services' variables (credentials, base URLs): no client
	// built from it can authenticate to a real service. Only the sandbox's
	// connection adds variables: the simulator's, layered over env.
	env func(string) string
}

// resolve resolves the target of a command; sandbox is its -sandbox flag.
func (c *cli) resolve(sandbox bool) target {
	t := target{
		sandbox:      sandbox,
		state:        c.statePath,
		workspace:    c.workspace,
		workspaceEnv: c.getenv("RECONCILE_WORKSPACE"),
		color:        c.color(c.stdout),
		env:          c.getenv,
	}
	t.stateGiven = c.stateFlag != nil && c.stateFlag.Changed
	t.workspaceGiven = c.workspace != ""
	if !t.stateGiven {
		if sandbox {
			t.state = sandboxStateFile
		} else if env := c.getenv("RECONCILE_STATE"); env != "" {
			t.state = env
		}
	}
	d, err := time.ParseDuration(c.lockTimeout)
	if err != nil || d < 0 {
		t.lockErr = &exitError{code: 1, msg: fmt.Sprintf("-lock-timeout %q: want a duration such as 30s or 5m", c.lockTimeout)}
	}
	t.lockTimeout = d
	if sandbox {
		t.env = withoutVars(c.getenv, serviceVars(c.reg))
	}
	c.resolved = &t
	return t
}

// flags renders the flags that select t's state and services, as the
// commands reconcile suggests must repeat them so that copying one works:
// " -sandbox -state FILE -workspace NAME", or "" for the defaults.
func (t target) flags() string {
	var b strings.Builder
	if t.sandbox {
		b.WriteString(" -sandbox")
	}
	if t.stateGiven {
		b.WriteString(" -state " + shellQuote(t.state))
	}
	if t.workspaceGiven {
		b.WriteString(" -workspace " + shellQuote(t.workspace))
	}
	return b.String()
}

// command renders a reconcile command line to suggest, with t's flags:
// command("apply", "plan.json") is "reconcile apply -sandbox plan.json".
func (t target) command(sub string, args ...string) string {
	s := "reconcile " + sub + t.flags()
	for _, a := range args {
		s += " " + shellQuote(a)
	}
	return s
}

// hintFlags are the flags of the target the command resolved, for the
// messages that suggest a command ("" before any).
func (c *cli) hintFlags() string {
	if c.resolved == nil {
		return ""
	}
	return c.resolved.flags()
}

// withHintFlags adds the target's flags to the commands that messages from
// the engine and the services suggest ("run reconcile plan -refresh",
// "run: reconcile force-unlock ID"), so that copying them works.
func (c *cli) withHintFlags(msg string) string {
	flags := c.hintFlags()
	if flags == "" {
		return msg
	}
	return strings.NewReplacer(
		"reconcile plan -refresh", "reconcile plan"+flags+" -refresh",
		"reconcile force-unlock ", "reconcile force-unlock"+flags+" ",
	).Replace(msg)
}

// serviceVars lists every registered service's variables.
func serviceVars(reg *engine.Registry) map[string]bool {
	vars := map[string]bool{}
	for _, svc := range reg.Services() {
		for _, v := range svc.Vars() {
			vars[v] = true
		}
	}
	return vars
}

// withoutVars returns getenv with vars unset.
func withoutVars(getenv func(string) string, vars map[string]bool) func(string) string {
	return func(k string) string {
		if vars[k] {
			return ""
		}
		return getenv(k)
	}
}

// layered returns getenv with the values of over in front.
func layered(over map[string]string, getenv func(string) string) func(string) string {
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// backend opens the state backend the target names: a file, or a
// PostgreSQL database (postgres:// or postgresql://), whose workspace is
// -workspace or RECONCILE_WORKSPACE.
func (t target) backend(reg *engine.Registry) (engine.Backend, error) {
	if t.state == "" {
		return nil, &exitError{code: 1, msg: "-state must name a file or a postgres:// URL"}
	}
	if !pg.IsURL(t.state) {
		if t.workspace != "" && t.workspace != pg.DefaultWorkspace {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("-workspace %q: workspaces are for a PostgreSQL state (-state postgres://...); the state %s is a file", t.workspace, t.state)}
		}
		return state.NewFile(t.state, reg.Names()...), nil
	}
	ws := t.workspace
	if ws == "" {
		ws = t.workspaceEnv
	}
	b, err := pg.Open(t.state, ws, reg.Names()...)
	if err != nil {
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	return b, nil
}

// runner is the operation runner for t's state b and services.
func (c *cli) runner(t target, b engine.Backend) *operation.Runner {
	if f, ok := b.(*state.File); ok {
		b = probedFile{f}
	}
	r := &operation.Runner{
		Registry:     c.reg,
		Backend:      b,
		LockTimeout:  t.lockTimeout,
		Sandbox:      t.sandbox,
		NewProviders: c.providers(t.env),
		Log:          c.log,
		Warn:         func(err error) { fmt.Fprintf(c.stderr, "Warning: %v\n", err) },
	}
	if t.sandbox {
		r.Connect = func(context.Context) (operation.ProviderFactory, func(), error) { return c.connectSandbox(t) }
	}
	return r
}

// connectSandbox starts the in-process simulator, with its data beside the
// state, and returns the factory of clients that call it. The function it
// returns saves the simulator's data and stops it.
func (c *cli) connectSandbox(t target) (operation.ProviderFactory, func(), error) {
	sb, env, err := inProcessSandbox(c.reg, t.state, c.getenv)
	if err != nil {
		return nil, nil, err
	}
	return c.providers(layered(env, t.env)), func() {
		if err := sb.Save(); err != nil {
			fmt.Fprintf(c.stderr, "Warning: saving the sandbox data: %v\n", err)
		}
		sb.Close()
	}, nil
}

// providers returns the factory of the registry's clients, which read the
// environment through getenv. Building needs no credentials: plan only asks
// the clients which calls a change becomes.
func (c *cli) providers(getenv func(string) string) operation.ProviderFactory {
	return func(cfgs map[string]engine.ProviderConfig) (map[string]engine.Provider, error) {
		out := map[string]engine.Provider{}
		for _, svc := range c.reg.Services() {
			p, err := svc.New(engine.ClientOptions{Config: c.reg.Config(cfgs, svc.Name), Getenv: getenv})
			if err != nil {
				return nil, err
			}
			out[svc.Name] = p
		}
		return out, nil
	}
}

// probedFile is the file state as the operations use it: it tells them
// whether an unfinished apply left FILE.journal beside the file, so that an
// apply that changes nothing still saves the journal's records into the
// file instead of leaving the journal there.
type probedFile struct{ *state.File }

func (f probedFile) LeftoverJournal(context.Context) (bool, error) {
	_, err := os.Lstat(f.String() + ".journal")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("reading the state journal: %w", err)
}

// lockedState takes the lock of t's state for operation and loads it, for
// the commands that edit the state itself (state rm, state push). The
// caller must call the returned unlock.
func (c *cli) lockedState(ctx context.Context, t target, operation string) (engine.Backend, *engine.State, func(), error) {
	b, err := t.backend(c.reg)
	if err != nil {
		return nil, nil, nil, err
	}
	if t.lockErr != nil {
		return nil, nil, nil, t.lockErr
	}
	lock, err := b.Lock(ctx, operation, t.lockTimeout)
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
