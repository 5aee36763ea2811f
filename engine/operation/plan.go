package operation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/renameio/v2"

	"github.com/reconcile-dev/reconcile/engine"
)

// PlanRequest asks for a plan.
type PlanRequest struct {
	// Desired is what the manifests declare.
	Desired *engine.Desired
	// Targets limits the plan to matching addresses (empty: all).
	Targets []string
	// Refresh reads the targeted customers the state holds from their
	// services first, and plans against what they hold.
	Refresh bool
	// Out, when set, is where the plan is saved for apply, calls included
	// (mode 0600, replaced atomically).
	Out string
	// Lazy asks for a plan whose creates of customers the state does not
	// hold are built as the plan is shown (engine.PlanOptions.Lazy): for a
	// plan that is shown or saved, not applied.
	Lazy  bool
	Hooks Hooks
}

// PlanResult is a plan and what it was made against.
type PlanResult struct {
	Plan *engine.Plan
	// StateAddresses is how many addresses the state holds.
	StateAddresses int
}

// Plan diffs the manifests against the state. It takes no lock and writes
// nothing but Out.
func (r *Runner) Plan(ctx context.Context, req PlanRequest) (*PlanResult, error) {
	if req.Desired == nil {
		return nil, errNoManifests
	}
	if sc, ok := r.Backend.(engine.StateScanner); ok && !req.Refresh {
		res, err := r.planScan(ctx, sc, req)
		if !errors.Is(err, engine.ErrScanUnavailable) {
			return res, err
		}
		// Not in address order, or a journal to fold: load it.
	}
	st, err := r.Backend.Load(ctx)
	if err != nil {
		return nil, err
	}
	newProviders := r.NewProviders
	if req.Refresh {
		var release func()
		if newProviders, release, err = r.connect(ctx); err != nil {
			return nil, err
		}
		defer release()
	}
	p, err := r.makePlan(ctx, req.Desired, st, newProviders, req.Targets, req.Refresh, req.Hooks)
	if err != nil {
		return nil, err
	}
	if err := r.save(p, req.Out); err != nil {
		return nil, err
	}
	return &PlanResult{Plan: p, StateAddresses: len(st.Resources)}, nil
}

// planScan is Plan against a state streamed from sc, without loading it
// (engine.MakePlanScan).
func (r *Runner) planScan(ctx context.Context, sc engine.StateScanner, req PlanRequest) (*PlanResult, error) {
	provs, err := r.NewProviders(req.Desired.Providers)
	if err != nil {
		return nil, err
	}
	p, diags, info, err := engine.MakePlanScan(ctx, req.Desired, sc, engine.PlanOptions{Targets: req.Targets, Providers: provs, Lazy: req.Lazy})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, diags
	}
	req.Hooks.warn(diags)
	if err := r.save(p, req.Out); err != nil {
		return nil, err
	}
	return &PlanResult{Plan: p, StateAddresses: info.Entries}, nil
}

// save saves p to out when out is set, with the target apply's requests
// will go to.
func (r *Runner) save(p *engine.Plan, out string) error {
	if out == "" {
		return nil
	}
	// The target: where apply's requests will go, which the clients apply
	// would build say (offline: building one sends nothing).
	provs, err := r.NewProviders(p.Providers)
	if err != nil {
		return err
	}
	return SavePlan(out, p, func() engine.PlanTarget { return r.target(p, provs) })
}

// SavePlan writes p to path as a saved plan for the target (asked once the
// changes are written), calls included, streamed to a temporary file that
// then replaces path atomically, with mode 0600: a plan holds customer
// data.
func SavePlan(path string, p *engine.Plan, target func() engine.PlanTarget) error {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o600), renameio.WithExistingPermissions())
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	defer f.Cleanup()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := engine.WriteSavedPlan(bw, p, target); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return nil
}

// ReadPlanFile reads a plan saved with SavePlan, with its calls, and the
// target it records (nil: none, a plan saved by an older reconcile).
func ReadPlanFile(reg *engine.Registry, path string) (*engine.Plan, *engine.PlanTarget, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the plan: %w", err)
	}
	defer f.Close()
	p, target, err := engine.ReadSavedPlan(reg, f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, target, nil
}

// checkTarget refuses a saved plan made for another target than here, or
// that records none.
func checkTarget(planned *engine.PlanTarget, here engine.PlanTarget, planFile string) error {
	if planned == nil {
		return &ForeignTargetError{PlanFile: planFile, Here: here}
	}
	if !planned.Equal(here) {
		return &ForeignTargetError{PlanFile: planFile, Planned: planned, Here: here}
	}
	return nil
}

// checkStale refuses a saved plan made against another state, or touching
// an address whose state entry changed since the plan was made.
func checkStale(p *engine.Plan, st *engine.State, planFile string) error {
	// A plan made before the first apply saw a state that did not exist yet,
	// with a lineage made up for it; the state, still missing, makes up
	// another on every load. It takes the plan's, as the state the plan
	// was made for (a GitOps pipeline's first merge).
	if st.Serial == 0 && len(st.Resources) == 0 && p.StateSerial == 0 {
		st.Lineage = p.StateLineage
	}
	if p.StateLineage != st.Lineage {
		return &ForeignPlanError{PlanFile: planFile, PlanLineage: p.StateLineage, StateLineage: st.Lineage}
	}
	var stale []string
	for _, ch := range p.Changes {
		if st.Resources[ch.Address].Digest() != ch.Prior {
			stale = append(stale, ch.Address)
		}
	}
	if len(stale) > 0 {
		return &StalePlanError{PlanFile: planFile, Addresses: stale}
	}
	return nil
}
