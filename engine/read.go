package engine

import (
	"context"
	"errors"
	"fmt"
)

// ReadRequest asks a provider for one customer.
type ReadRequest struct {
	Resource *Resource
	// IDs are the service ids the state holds for it.
	IDs Fields
}

// ReadResult is what one read found.
type ReadResult struct {
	Address  string
	Observed *Observed // nil when the read failed or found nothing
	NotFound bool      // the service has no such customer
	Err      error     // the read failed (after retries)
}

// ReadAll reads customers from their services, concurrently, under the same
// rate limits, concurrency caps, retries and credential stop as Apply. It
// returns one result per request, in order; it makes exactly one successful
// read per customer. ApplyOptions.Recorder is not used.
func ReadAll(ctx context.Context, reqs []ReadRequest, opts ApplyOptions) []ReadResult {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 10
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = defaultBackoff
	}
	results := make([]ReadResult, len(reqs))
	if opts.Registry == nil {
		for i := range results {
			results[i] = ReadResult{Address: reqs[i].Resource.Address(), Err: errors.New("read: no registry")}
		}
		return results
	}
	byProvider := map[string][]int{}
	for i, r := range reqs {
		results[i].Address = r.Resource.Address()
		byProvider[r.Resource.Provider] = append(byProvider[r.Resource.Provider], i)
	}
	for _, name := range opts.Registry.Names() {
		if idx := byProvider[name]; len(idx) > 0 && opts.Providers[name] == nil {
			for _, i := range idx {
				results[i].Err = fmt.Errorf("no provider %q", name)
			}
			delete(byProvider, name)
		}
	}
	a := newApplier(opts)
	defer a.close()
	a.schedule(ctx, byProvider, func(ctx context.Context, pr *providerRun, i int) {
		a.readOne(ctx, pr, reqs[i], &results[i])
	})
	return results
}

func (a *applier) readOne(ctx context.Context, pr *providerRun, req ReadRequest, res *ReadResult) {
	if a.stopping() || ctx.Err() != nil {
		res.Err = errors.New("not read: interrupted")
		return
	}
	var obs *Observed
	err := a.guarded(ctx, pr, res.Address, "read", func(ctx context.Context) error {
		var err error
		obs, err = pr.prov.Read(ctx, req.Resource, req.IDs)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		res.NotFound = true
		a.emit(Event{Kind: EventCall, Provider: pr.name, Address: res.Address, Op: "read"})
		return
	}
	if err != nil {
		res.Err = err
		return
	}
	res.Observed = obs
	a.emit(Event{Kind: EventCall, Provider: pr.name, Address: res.Address, Op: "read"})
}
