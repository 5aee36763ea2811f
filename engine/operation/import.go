package operation

import (
	"context"
	"fmt"
	"slices"

	"github.com/reconcile-dev/reconcile/engine"
)

// ImportRequest asks to adopt customers that already exist in the services.
type ImportRequest struct {
	// Manifests reads the manifests; it is called once the state is locked
	// and loaded.
	Manifests func() (*engine.Desired, error)
	// Targets limits the import to matching addresses (empty: all).
	Targets []string
	// AcceptUnreadable records the manifests' values for the fields the
	// services cannot read back, instead of leaving them out of the state.
	AcceptUnreadable bool
	Hooks            Hooks
}

// ImportResult lists what an import did, each list sorted.
type ImportResult struct {
	// Imported are the addresses now in the state, as the services hold them.
	Imported []string
	// Absent are the addresses the services do not have: apply creates them.
	Absent []string
	// Missing are the addresses the services do not have in a service
	// whose on_missing is skip: apply skips them.
	Missing []string
	// Skipped are the addresses the state already held.
	Skipped []string
	// Failed counts the reads that failed.
	Failed int
}

// Import reads from their services the targeted customers of the manifests
// that the state does not hold, and records what the services hold for
// those they have, in one save. When some reads fail, the others are still
// recorded, and Import returns both its result and *ReadsFailedError.
func (r *Runner) Import(ctx context.Context, req ImportRequest) (*ImportResult, error) {
	l, err := r.lockState(ctx, "import")
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
	if req.Manifests == nil {
		return nil, errNoManifests
	}
	d, err := req.Manifests()
	if err != nil {
		return nil, err
	}
	provs, err := newProviders(d.Providers)
	if err != nil {
		return nil, err
	}
	skipped, reqs := r.readTargets(d, st, req.Targets)
	results, readErr := r.readAll(ctx, reqs, d.Providers, provs, req.Hooks)
	if results == nil {
		return nil, readErr
	}
	out := &ImportResult{}
	for i, res := range results {
		if res.NotFound {
			// Remembered in the state (engine.AbsentEntry), so the plan
			// starts its create with the service's create request.
			st.Resources[res.Address] = engine.AbsentEntry(reqs[i].Resource.Provider, reqs[i].Resource.ID)
			if d.Providers[reqs[i].Resource.Provider].OnMissing == engine.OnMissingSkip {
				out.Missing = append(out.Missing, res.Address)
			} else {
				out.Absent = append(out.Absent, res.Address)
			}
			continue
		}
		if res.Err != nil {
			continue
		}
		st.Resources[res.Address] = importedEntry(r.Registry.Service(reqs[i].Resource.Provider), reqs[i].Resource, res.Observed, req.AcceptUnreadable)
		out.Imported = append(out.Imported, res.Address)
	}
	if len(out.Imported) > 0 || len(out.Absent) > 0 || len(out.Missing) > 0 || l.folded {
		if err := l.save(ctx); err != nil {
			return nil, fmt.Errorf("saving the state: %w", err)
		}
	}
	for _, s := range skipped {
		out.Skipped = append(out.Skipped, s.Resource.Address())
	}
	out.Failed = len(results) - len(out.Imported) - len(out.Absent) - len(out.Missing)
	slices.Sort(out.Missing)
	slices.Sort(out.Imported)
	slices.Sort(out.Absent)
	slices.Sort(out.Skipped)
	return out, readErr
}

// importedEntry is the state entry for a customer read from its service:
// the managed fields it could read, and, with acceptUnreadable, the
// manifests' values for the others.
func importedEntry(svc *engine.Service, r *engine.Resource, obs *engine.Observed, acceptUnreadable bool) *engine.Entry {
	e := &engine.Entry{Provider: r.Provider, ID: r.ID, IDs: obs.IDs.Clone()}
	for _, f := range r.Fields {
		if v, ok := obs.Fields.Get(f.Name); ok {
			e.Fields = append(e.Fields, engine.Field{Name: f.Name, Value: v})
		} else if acceptUnreadable {
			e.Fields = append(e.Fields, f)
		}
	}
	// The parameters that address the customer later (ServiceKey.Addresses:
	// invisiblecollector's gid, tomticket's id_type) are kept with its ids,
	// as apply keeps them.
	for _, p := range r.Params {
		if k := svc.Key(p.Name); k != nil && k.Addresses {
			if _, has := e.IDs.Get(p.Name); !has {
				e.IDs = e.IDs.Set(p.Name, p.Value)
			}
		}
	}
	e.Fields.Sort()
	return e
}
