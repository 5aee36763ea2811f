package operation

import (
	"context"
	"errors"
	"fmt"

	"github.com/reconcile-dev/reconcile/engine"
)

// ApplyRequest asks for an apply: of a saved plan (PlanFile), or of the plan
// the manifests make.
type ApplyRequest struct {
	// Manifests reads the manifests; it is called once the state is locked
	// and loaded, and not at all for a saved plan.
	Manifests func() (*engine.Desired, error)
	// Targets and Refresh shape the plan as PlanRequest's do.
	Targets []string
	Refresh bool
	// PlanFile, when set, names a plan saved with SavePlan, applied as it is.
	PlanFile string
	// Rails are the safety checks the plan must pass.
	Rails engine.Rails
	// Parallelism caps the calls in flight across all services (0: 10).
	Parallelism int
	// Canary and VerifyAll shape read-after-write verification
	// (engine.ApplyOptions): each service's first Canary changes are
	// written and verified before its others (negative: the default);
	// VerifyAll verifies every change.
	Canary    int
	VerifyAll bool
	Hooks     ApplyHooks
}

// ApplyHooks are what an apply shows and asks. Every one is optional.
type ApplyHooks struct {
	Hooks
	// ShowPlan shows the plan about to be applied, given how many addresses
	// the state holds. An error ends the apply before any call.
	ShowPlan func(p *engine.Plan, stateAddresses int) error
	// Confirm is called once the plan has passed every check, right before
	// the state is saved and the first call made; false cancels the apply
	// (ErrCancelled).
	Confirm func(p *engine.Plan) bool
	// Applying is called once the journal is open, right before the first
	// call, with the calls per service; the Calls it returns follow and
	// steer them.
	Applying func(ctx context.Context, totals map[string]int) Calls
}

// Calls is how the caller follows and steers an apply's calls. Every field
// is optional.
type Calls struct {
	// Ctx is the context the calls run in: cancelling it aborts those in
	// flight (a second Ctrl-C); what completed is still recorded. Nil: the
	// apply's own.
	Ctx context.Context
	// Stop, once closed, starts no new calls; those in flight finish and are
	// recorded (a first Ctrl-C).
	Stop <-chan struct{}
	// Events receives every call, retry and finished change.
	Events func(engine.Event)
	// Done is called when the calls are over, before the state is saved.
	Done func()
}

// ApplyResult is what an apply did.
type ApplyResult struct {
	// Plan is the plan applied (or refused).
	Plan *engine.Plan
	// Result holds one item per change; nil when the plan had no changes.
	Result *engine.Result
}

// Apply runs the protocol the package documentation describes. It returns
// the plan's diagnostics (engine.Diagnostics), the typed refusals of this
// package, and the backend's and engine's errors; changes that failed are
// not an error, but items of the result.
func (r *Runner) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	h := req.Hooks
	l, err := r.lockState(ctx, "apply")
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	st := l.state
	newProviders, release, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	var p *engine.Plan
	if req.PlanFile != "" {
		var planned *engine.PlanTarget
		if p, planned, err = ReadPlanFile(r.Registry, req.PlanFile); err != nil {
			return nil, err
		}
		// Where this apply's calls would go, from the clients that would
		// make them (building one sends nothing).
		provs, err := newProviders(p.Providers)
		if err != nil {
			return nil, err
		}
		if err := checkTarget(planned, r.target(p, provs), req.PlanFile); err != nil {
			return &ApplyResult{Plan: p}, err
		}
		if err := checkStale(p, st, req.PlanFile); err != nil {
			return nil, err
		}
	} else {
		if req.Manifests == nil {
			return nil, errNoManifests
		}
		d, err := req.Manifests()
		if err != nil {
			return nil, err
		}
		if p, err = r.makePlan(ctx, d, st, newProviders, req.Targets, req.Refresh, h.Hooks); err != nil {
			return nil, err
		}
	}
	out := &ApplyResult{Plan: p}

	// The estimate counts the reads that verify writes, as this apply will.
	canary := req.Canary
	if canary < 0 {
		canary = engine.DefaultCanary
	}
	p.Verify = &engine.Verification{Canary: canary, All: req.VerifyAll}
	if h.ShowPlan != nil {
		if err := h.ShowPlan(p, len(st.Resources)); err != nil {
			return out, err
		}
	}
	log := r.log()
	log.Info("plan", "state", r.Backend.String(), "lineage", p.StateLineage, "serial", p.StateSerial,
		"create", p.Summary.Create, "update", p.Summary.Update, "disable", p.Summary.Disable, "forget", p.Summary.Forget, "no_op", p.Summary.NoOp)
	if p.Summary.Changes() == 0 {
		if l.folded {
			if err := l.save(ctx); err != nil {
				return out, fmt.Errorf("saving the state, which folded in the journal of an earlier apply: %w", err)
			}
		}
		return out, nil
	}

	if problems := engine.RailProblems(p, len(st.Resources), req.Rails); len(problems) > 0 {
		return out, &RefusedError{Problems: problems}
	}
	provs, err := newProviders(p.Providers)
	if err != nil {
		return out, err
	}
	need := map[string]bool{}
	totals := map[string]int{}
	for _, ch := range p.Changes {
		if len(ch.Calls) > 0 {
			need[ch.Provider] = true
		}
		totals[ch.Provider] += len(ch.Calls)
	}
	if err := r.checkReady(need, provs, false); err != nil {
		return out, err
	}
	if h.Confirm != nil && !h.Confirm(p) {
		return out, ErrCancelled
	}

	// The state is saved before the first call, so that a journal always
	// sits beside the state it extends.
	if err := l.save(ctx); err != nil {
		return out, fmt.Errorf("saving the state before applying: %w", err)
	}
	journal, err := r.Backend.OpenJournal(ctx, st)
	if err != nil {
		return out, err
	}
	var calls Calls
	if h.Applying != nil {
		calls = h.Applying(ctx, totals)
	}
	callCtx := calls.Ctx
	if callCtx == nil {
		callCtx = ctx
	}
	res, applyErr := engine.Apply(callCtx, p, engine.ApplyOptions{
		Providers:   provs,
		Configs:     p.Providers,
		Parallelism: req.Parallelism,
		Canary:      req.Canary,
		VerifyAll:   req.VerifyAll,
		Recorder:    NewRecorder(journal, st),
		Events:      calls.Events,
		Stop:        calls.Stop,
	})
	if calls.Done != nil {
		calls.Done()
	}
	jerr := journal.Close()
	serr := l.save(context.WithoutCancel(ctx))
	if res == nil {
		res = &engine.Result{}
	}
	out.Result = res
	log.Info("apply done", "state", r.Backend.String(), "serial", st.Serial, "calls", res.Calls, "created", res.Created, "updated", res.Updated,
		"disabled", res.Disabled, "forgotten", res.Forgotten, "failed", res.Failed, "not_attempted", res.NotAttempted, "save_error", errors.Join(jerr, serr))
	if applyErr != nil {
		return out, applyErr
	}
	if err := errors.Join(jerr, serr); err != nil {
		return out, fmt.Errorf("saving the state %s (its journal keeps every completed call; the next command folds it in): %w", r.Backend, err)
	}
	return out, nil
}
