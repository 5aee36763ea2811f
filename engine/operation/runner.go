package operation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// Runner runs the operations against one state and one set of services.
// Its fields are set once; a Runner may serve several operations in turn.
type Runner struct {
	// Registry lists the services.
	Registry *engine.Registry
	// Backend stores the state.
	Backend engine.Backend
	// LockTimeout is how long apply and import wait for a held state lock
	// (0: fail at once).
	LockTimeout time.Duration
	// NewProviders builds the clients a plan uses offline, to list the calls
	// of each change. It must build one for every registered service.
	NewProviders ProviderFactory
	// Connect, when set, is called by the operations that reach the
	// services (apply, import, plan with Refresh), once the state is loaded
	// (and locked, for apply and import): it returns the factory of the
	// clients that make the calls, and a function called when the operation
	// ends. Nil: NewProviders builds those as well. (The CLI's -sandbox
	// starts its simulator here, under the state lock that guards its data.)
	Connect func(ctx context.Context) (ProviderFactory, func(), error)
	// Sandbox says that the services are a simulator whose address changes
	// on every run (the CLI's -sandbox): a saved plan records "the sandbox"
	// as its target rather than base URLs, and only such a runner applies
	// it. Otherwise a saved plan records each called service's base URL, as
	// its client resolves it (a client that has a BaseURL method).
	Sandbox bool
	// Log receives the operations' structured log (nil: none).
	Log *slog.Logger
	// Warn receives problems that do not fail the operation, such as a
	// state lock that could not be released (nil: logged only).
	Warn func(error)
}

// ProviderFactory builds a client for every registered service with the
// settings in cfgs (a service missing there gets its defaults).
type ProviderFactory func(cfgs map[string]engine.ProviderConfig) (map[string]engine.Provider, error)

// JournalProber is implemented by backends that can tell, before a load,
// whether a journal left by a command that did not finish waits beside the
// state. An apply or import that changes nothing still saves a state whose
// load folded such a journal in, so that the journal does not linger.
type JournalProber interface {
	LeftoverJournal(ctx context.Context) (bool, error)
}

// Hooks are what an operation that plans or reads tells its caller. Every
// one is optional.
type Hooks struct {
	// Warnings receives the diagnostics that do not stop the operation (a
	// -target that matches nothing, a create that lacks a field).
	Warnings func(engine.Diagnostics)
	// Reading is called before customers are read from their services
	// (refresh, import), with the reads per service; it returns where the
	// reads' events go and a function called once they are done.
	Reading func(totals map[string]int) (events func(engine.Event), done func())
	// Refreshed says, after a refresh, how many customers were read and how
	// many of them the services no longer have.
	Refreshed func(read, missing int)
}

func (h Hooks) warn(ds engine.Diagnostics) {
	if h.Warnings != nil && len(ds) > 0 {
		h.Warnings(ds)
	}
}

// readParallelism caps the reads in flight across all services.
const readParallelism = 10

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

func (r *Runner) warn(err error) {
	r.log().Warn("warning", "error", err.Error())
	if r.Warn != nil {
		r.Warn(err)
	}
}

// connect returns the factory of the clients that call the services, and
// the function that ends the connection.
func (r *Runner) connect(ctx context.Context) (ProviderFactory, func(), error) {
	if r.Connect == nil {
		return r.NewProviders, func() {}, nil
	}
	f, release, err := r.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	if release == nil {
		release = func() {}
	}
	return f, release, nil
}

// locked is a state loaded under its lock.
type locked struct {
	r     *Runner
	lock  engine.Unlocker
	state *engine.State
	// folded says that the load folded in a journal left by a command that
	// did not finish: the state must be saved before the operation ends.
	folded bool
}

// lockState takes the state lock for operation and loads the state. The
// caller must call unlock.
func (r *Runner) lockState(ctx context.Context, operation string) (*locked, error) {
	lock, err := r.Backend.Lock(ctx, operation, r.LockTimeout)
	if err != nil {
		return nil, err
	}
	l := &locked{r: r, lock: lock}
	if p, ok := r.Backend.(JournalProber); ok {
		if l.folded, err = p.LeftoverJournal(ctx); err != nil {
			l.unlock()
			return nil, err
		}
	}
	if l.state, err = r.Backend.Load(ctx); err != nil {
		l.unlock()
		return nil, err
	}
	return l, nil
}

func (l *locked) unlock() {
	if err := l.lock.Unlock(); err != nil {
		l.r.warn(fmt.Errorf("releasing the state lock: %w", err))
	}
}

// save saves the state; it then includes every journal record.
func (l *locked) save(ctx context.Context) error {
	if err := l.r.Backend.Save(ctx, l.state); err != nil {
		return err
	}
	l.folded = false
	return nil
}

// makePlan is the plan pipeline: the clients (which plan each change's
// calls), the refresh when asked, then the diff.
func (r *Runner) makePlan(ctx context.Context, d *engine.Desired, st *engine.State, newProviders ProviderFactory, targets []string, refresh bool, h Hooks) (*engine.Plan, error) {
	provs, err := newProviders(d.Providers)
	if err != nil {
		return nil, err
	}
	opts := engine.PlanOptions{Targets: targets, Providers: provs}
	if refresh {
		if opts.Refresh, err = r.refresh(ctx, d, st, targets, provs, h); err != nil {
			return nil, err
		}
	}
	p, diags := engine.MakePlan(d, st, opts)
	if diags.HasErrors() {
		return nil, diags
	}
	h.warn(diags)
	return p, nil
}

// refresh reads every targeted customer the state holds and returns what
// the services hold, by address, for MakePlan.
func (r *Runner) refresh(ctx context.Context, d *engine.Desired, st *engine.State, targets []string, provs map[string]engine.Provider, h Hooks) (map[string]engine.ReadResult, error) {
	reqs, _ := r.readTargets(d, st, targets)
	results, err := r.readAll(ctx, reqs, d.Providers, provs, h)
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.ReadResult, len(results))
	missing := 0
	for _, res := range results {
		out[res.Address] = res
		if res.NotFound {
			missing++
		}
	}
	if h.Refreshed != nil {
		h.Refreshed(len(results), missing)
	}
	return out, nil
}

// readTargets lists the read requests for the desired addresses matching
// targets, split by whether the state holds them.
func (r *Runner) readTargets(d *engine.Desired, st *engine.State, targets []string) (inState, notInState []engine.ReadRequest) {
	names := r.Registry.Names()
	for _, cu := range d.Customers {
		for i, prov := range names {
			if cu.Managed&(1<<i) == 0 {
				continue
			}
			addr := engine.Address(prov, cu.ID)
			if !engine.MatchesAny(targets, addr) {
				continue
			}
			res := r.Registry.Resource(cu, prov)
			// An entry that only says the service had no such customer
			// (import) is read again like one the state does not hold.
			if e := st.Resources[addr]; e != nil && !e.Absent() {
				inState = append(inState, engine.ReadRequest{Resource: res, IDs: e.IDs})
			} else {
				notInState = append(notInState, engine.ReadRequest{Resource: res})
			}
		}
	}
	return inState, notInState
}

// readAll reads the customers from their services with the apply machinery
// (rate limits, retries). It returns nil and *MissingCredentials when a
// service to read lacks its credentials; failed reads come back as the
// results and *ReadsFailedError: nothing is planned or recorded from a
// failed read.
func (r *Runner) readAll(ctx context.Context, reqs []engine.ReadRequest, cfgs map[string]engine.ProviderConfig, provs map[string]engine.Provider, h Hooks) ([]engine.ReadResult, error) {
	need, totals := map[string]bool{}, map[string]int{}
	for _, req := range reqs {
		need[req.Resource.Provider] = true
		totals[req.Resource.Provider]++
	}
	if err := r.checkReady(need, provs, true); err != nil {
		return nil, err
	}
	events, done := func(engine.Event) {}, func() {}
	if h.Reading != nil {
		events, done = h.Reading(totals)
	}
	results := engine.ReadAll(ctx, reqs, engine.ApplyOptions{Registry: r.Registry, Providers: provs, Configs: cfgs, Parallelism: readParallelism, Events: events})
	done()
	var failed []engine.ReadResult
	for _, res := range results {
		if res.Err != nil {
			failed = append(failed, res)
		}
	}
	if len(failed) > 0 {
		return results, &ReadsFailedError{Failed: failed, Total: len(results)}
	}
	return results, nil
}

// checkReady asks every needed provider whether it has its credentials,
// and reports every one that has not at once.
func (r *Runner) checkReady(need map[string]bool, provs map[string]engine.Provider, reading bool) error {
	var problems []error
	for _, name := range r.Registry.Names() {
		if !need[name] {
			continue
		}
		p := provs[name]
		if p == nil {
			problems = append(problems, fmt.Errorf("%s: no client", name))
			continue
		}
		if err := p.Ready(); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return &MissingCredentials{Problems: problems, Reading: reading}
	}
	return nil
}

// baseURLer is a client that says where its requests go.
type baseURLer interface{ BaseURL() string }

// target is where p's calls go with the clients provs: the sandbox, or the
// base URL of every service p calls.
func (r *Runner) target(p *engine.Plan, provs map[string]engine.Provider) engine.PlanTarget {
	if r.Sandbox {
		return engine.PlanTarget{Sandbox: true}
	}
	t := engine.PlanTarget{}
	for _, st := range p.CallStats() { // the services p calls
		if b, ok := provs[st.Provider].(baseURLer); ok && b.BaseURL() != "" {
			if t.BaseURLs == nil {
				t.BaseURLs = map[string]string{}
			}
			t.BaseURLs[st.Provider] = b.BaseURL()
		}
	}
	return t
}

// errNoManifests is returned when a request that needs the manifests has no
// way to read them.
var errNoManifests = errors.New("operation: no manifests")
