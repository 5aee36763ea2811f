package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Status is how one change ended, as the apply report says it.
type Status string

// Statuses of a change after apply.
const (
	StatusOK           Status = "ok"
	StatusWarning      Status = "warning"
	StatusFailed       Status = "failed"
	StatusNotAttempted Status = "not_attempted"
	// StatusSkipped is a create of a customer the service lacks, in a
	// service whose on_missing is skip: nothing created, nothing recorded.
	StatusSkipped Status = "skipped"
)

// ApplyOptions shapes an apply.
type ApplyOptions struct {
	// Registry is the set of services (default: the plan's).
	Registry *Registry
	// Providers makes the calls; every provider a change names must be here.
	Providers map[string]Provider
	// Configs holds each provider's settings (rate, concurrency, retries,
	// timeout); a missing one gets DefaultProviderConfig.
	Configs map[string]ProviderConfig
	// Limiters overrides the limiter built from Configs (tests, benchmarks).
	Limiters map[string]Limiter
	// Parallelism caps the calls in flight across all providers (default 10).
	Parallelism int
	// Recorder receives each completed call as it completes.
	Recorder Recorder
	// Events, if set, is told about calls, retries and finished changes. It
	// is called from many goroutines.
	Events func(Event)
	// Stop, when closed, stops apply from starting new calls; the calls in
	// flight finish and are recorded (the first Ctrl-C).
	Stop <-chan struct{}
	// BackoffInitial is the first retry delay (default 500ms).
	BackoffInitial time.Duration
	// Canary is how many of each service's first changes are written and
	// verified before the rest of that service's changes start; a field
	// that did not stick there stops the service. Negative: the default
	// (DefaultCanary); 0: none.
	Canary int
	// VerifyAll verifies every write, not only the canary's.
	VerifyAll bool
}

// DefaultCanary is how many customers of each service an apply writes and
// verifies first.
const DefaultCanary = 3

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventCall   EventKind = "call"   // a call succeeded
	EventRetry  EventKind = "retry"  // a call failed and will be retried
	EventChange EventKind = "change" // a change finished (see Item)
)

// Event is one step of an apply, for progress displays and -json lines.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Provider string
	Address  string
	Op       string
	Attempt  int
	Wait     time.Duration
	// RetryAfter is the wait the service asked for (Wait is at most
	// MaxRetryAfter of it).
	RetryAfter time.Duration
	Err        error
	Item       *Item
}

// Item is the outcome of one change.
type Item struct {
	Change     *Change
	Status     Status
	HTTPStatus int
	Message    string
	// Mismatches lists the fields the service did not keep as sent (read
	// after write); they are not recorded.
	Mismatches []Mismatch
	canary     bool // one of its service's canary changes
	verified   bool // its writes were checked against what the service holds
	// CallsDone counts the calls that succeeded and were recorded.
	CallsDone int
}

// Result is the outcome of an apply.
type Result struct {
	// Items holds one entry per change, in plan order.
	Items []*Item
	// Counts by outcome: created, updated, disabled, forgotten count
	// changes that completed (ok or warning).
	Created, Updated, Disabled, Forgotten, Failed, Warnings, NotAttempted int
	// Skipped counts the creates skipped under on_missing: skip.
	Skipped int
	// Verified counts the changes whose writes were verified (read after
	// write: the canary's, or all with VerifyAll).
	Verified int
	// Calls counts the calls that succeeded.
	Calls int
}

// ErrProviderStopped marks changes not attempted because an earlier call to
// the same provider was refused its credentials.
var ErrProviderStopped = errors.New("not attempted: an earlier call stopped the calls to this service in this apply")

// Apply carries out the plan's changes: customers in parallel, each
// customer's calls in order, each provider within its rate limit and
// concurrency, failed calls retried when the error allows. Every completed
// call is recorded before it counts as done. One customer's failure never
// stops the others; a 401 or 403 stops calls to that provider.
func Apply(ctx context.Context, p *Plan, opts ApplyOptions) (*Result, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 10
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = defaultBackoff
	}
	if opts.Recorder == nil {
		return nil, errors.New("apply: no recorder")
	}
	if opts.Registry == nil {
		opts.Registry = p.Registry
	}
	if opts.Registry == nil {
		return nil, errors.New("apply: no registry")
	}
	if opts.Canary < 0 {
		opts.Canary = DefaultCanary
	}
	res := &Result{Items: make([]*Item, len(p.Changes))}
	byProvider := map[string][]int{}
	for i, ch := range p.Changes {
		res.Items[i] = &Item{Change: ch}
		byProvider[ch.Provider] = append(byProvider[ch.Provider], i)
		if !opts.Registry.Has(ch.Provider) || len(ch.Calls) > 0 && opts.Providers[ch.Provider] == nil {
			return nil, fmt.Errorf("apply: no provider %q", ch.Provider)
		}
	}
	a := newApplier(opts)
	a.res = res
	a.canary = opts.Canary
	defer a.close()
	a.schedule(ctx, byProvider, func(ctx context.Context, pr *providerRun, i int) {
		it := res.Items[i]
		it.canary = pr.isCanary(i)
		a.runChange(ctx, pr, it)
		if it.Status != "" {
			a.emit(Event{Kind: EventChange, Provider: pr.name, Address: it.Change.Address, Item: it})
		}
	})
	a.recErrMu.Lock()
	recErr := a.recErr
	a.recErrMu.Unlock()
	for _, it := range res.Items {
		switch it.Status {
		case StatusOK, StatusWarning:
			switch it.Change.Action {
			case ActionCreate:
				res.Created++
			case ActionUpdate:
				res.Updated++
			case ActionDisable:
				res.Disabled++
			case ActionForget:
				res.Forgotten++
			}
			if it.Status == StatusWarning {
				res.Warnings++
			}
		case StatusFailed:
			res.Failed++
		case StatusSkipped:
			res.Skipped++
		default:
			it.Status = StatusNotAttempted
			res.NotAttempted++
		}
		res.Calls += it.CallsDone
		if it.verified {
			res.Verified++
		}
	}
	return res, recErr
}

// applier is one apply's or one read's machinery: the scheduler, the
// -parallelism slots, the stop signal, and the recorder's failure.
type applier struct {
	opts   ApplyOptions
	canary int // canary changes per service (0 for reads)
	res    *Result
	slots  *slots
	// stopped is done once opts.Stop is closed: requests waiting for their
	// slot or token give up (ErrStopped), those in flight finish.
	stopped context.Context
	close   func()

	// Records are not serialised here: the recorder is safe for concurrent
	// use, and one address's records come from one goroutine, in order.
	// (A PostgreSQL journal commits concurrent records in one transaction.)
	recErrMu sync.Mutex
	recErr   error
	recFail  atomic.Bool
}

func newApplier(opts ApplyOptions) *applier {
	a := &applier{opts: opts, slots: newSlots(opts.Parallelism, len(opts.Registry.Names()))}
	stopped, cancel := context.WithCancel(context.Background())
	a.stopped, a.close = stopped, cancel
	if opts.Stop != nil {
		done := make(chan struct{})
		go func() {
			select {
			case <-opts.Stop:
				cancel()
			case <-done:
			}
		}()
		a.close = func() { close(done); cancel() }
	}
	return a
}

// schedule runs job for every index in byProvider: per service, as many
// workers as its concurrency allows (and -parallelism, and its share of
// jobs), each taking the next index. Apply and reads share it.
func (a *applier) schedule(ctx context.Context, byProvider map[string][]int, job func(ctx context.Context, pr *providerRun, i int)) {
	var wg sync.WaitGroup
	for _, name := range a.opts.Registry.Names() {
		idx := byProvider[name]
		if len(idx) == 0 {
			continue
		}
		pr := a.newProviderRun(name, idx)
		workers := min(max(pr.cfg.Concurrency, 1), a.opts.Parallelism, len(idx))
		// The canary: the first jobs run (in parallel) before any other
		// starts, so that a field the service drops stops it after a few
		// customers, not a million.
		canary := min(a.canary, len(idx))
		pr.canary = canary
		var canaryLeft atomic.Int64
		canaryLeft.Store(int64(canary))
		canaryDone := make(chan struct{})
		if canary == 0 {
			close(canaryDone)
		}
		for range workers {
			wg.Go(func() {
				for {
					n := int(pr.next.Add(1)) - 1
					if n >= len(pr.idx) {
						return
					}
					if n < canary {
						job(ctx, pr, pr.idx[n])
						if canaryLeft.Add(-1) == 0 {
							close(canaryDone)
						}
						continue
					}
					select {
					case <-canaryDone:
					case <-ctx.Done():
					}
					job(ctx, pr, pr.idx[n])
				}
			})
		}
	}
	wg.Wait()
}

// providerRun is one service's share of an apply.
type providerRun struct {
	name    string
	cfg     ProviderConfig
	lim     Limiter
	gate    *gate
	prov    Provider
	idx     []int
	next    atomic.Int64
	stopped atomic.Pointer[CallError] // set by a 401/403
	// failures counts the requests that failed in a row, with no success
	// in between (StopAfterFailures).
	failures atomic.Int64
	// canary is how many of idx's first jobs are the service's canary.
	canary int

	// Until one call has been answered without a 401 or 403, calls to the
	// provider go one at a time, so bad credentials cost one refused call,
	// not one per worker.
	// probe is a one-slot semaphore (a channel, not a mutex, so that waiting
	// on it is durable blocking inside testing/synctest).
	open  atomic.Bool
	probe chan struct{}
}

func (a *applier) newProviderRun(name string, idx []int) *providerRun {
	cfg := a.opts.Registry.Config(a.opts.Configs, name)
	lim := a.opts.Limiters[name]
	if lim == nil {
		lim = a.opts.Registry.Service(name).NewLimiter(cfg)
	}
	g := &gate{slots: a.slots, index: a.opts.Registry.Index(name), lim: lim, stop: a.stopped}
	return &providerRun{name: name, cfg: cfg, lim: lim, gate: g, prov: a.opts.Providers[name], idx: idx, probe: make(chan struct{}, 1)}
}

// enter waits until pr accepts concurrent calls, or makes the caller the
// one probing call (it then holds pr.probe until leave).
func (pr *providerRun) enter() (probing bool) {
	if pr.open.Load() {
		return false
	}
	pr.probe <- struct{}{}
	if pr.open.Load() {
		<-pr.probe
		return false
	}
	return true
}

// leave ends a call made after enter; a call not refused its credentials
// opens the provider to concurrent calls.
func (pr *providerRun) leave(probing bool, err error) {
	if !probing {
		return
	}
	var ce *CallError
	if !errors.As(err, &ce) || !ce.Fatal {
		pr.open.Store(true)
	}
	<-pr.probe
}

func (a *applier) stopping() bool {
	if a.recFail.Load() {
		return true
	}
	select {
	case <-a.opts.Stop:
		return true
	default:
		return false
	}
}

func (a *applier) emit(ev Event) {
	if a.opts.Events != nil {
		ev.Time = time.Now()
		a.opts.Events(ev)
	}
}

// runChange makes one change's calls in order and records each.
func (a *applier) runChange(ctx context.Context, pr *providerRun, it *Item) {
	ch := it.Change
	if ch.Action == ActionForget {
		if a.stopping() {
			return
		}
		if err := a.record(Record{Address: ch.Address, Delete: true}); err == nil {
			it.Status = StatusOK
		} else {
			it.Status, it.Message = StatusFailed, err.Error()
		}
		return
	}
	if ch.Skip {
		// A read saw the service lacks it, and on_missing is skip.
		it.Status, it.Message = StatusSkipped, ErrSkipped.Error()
		return
	}
	var warnings []string
	for _, call := range ch.Calls {
		if ctx.Err() != nil || a.stopping() {
			return // the rest is not attempted; what was done is recorded
		}
		var out Outcome
		err := a.guarded(ctx, pr, ch.Address, call.Op, func(ctx context.Context) error {
			var err error
			out, err = pr.prov.Do(ctx, ch, call)
			return err
		})
		if err != nil {
			if errors.Is(err, ErrProviderStopped) {
				it.Message = err.Error()
				return
			}
			if errors.Is(err, ErrStopped) || ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrSkipped) {
				it.Status, it.Message = StatusSkipped, ErrSkipped.Error()
				return
			}
			it.Status = StatusFailed
			it.Message = err.Error()
			var ce *CallError
			if errors.As(err, &ce) {
				it.HTTPStatus = ce.Status
				if (ce.NotFound || ce.Status == 404) && ch.Action != ActionCreate {
					// The service lost a customer the state says it has.
					it.Message += " (the service no longer has this customer: run reconcile plan -refresh, which plans it as a create)"
				}
			}
			return
		}
		it.HTTPStatus = out.Status
		if out.Warning != "" {
			warnings = append(warnings, out.Warning)
		}
		rec := recordFor(a.opts.Registry.Service(pr.name), ch, call, out)
		var lost []Mismatch
		if a.verifies(pr, it) {
			var verr error
			if lost, verr = a.verify(ctx, pr, ch, call, out); verr != nil {
				if errors.Is(verr, ErrStopped) || ctx.Err() != nil {
					return // not verified: not recorded, planned again
				}
				it.Status, it.Message = StatusFailed, "the write could not be verified: "+verr.Error()
				return
			}
			rec.Set = withoutFields(rec.Set, lost)
			it.verified = true
		}
		if err := a.record(rec); err != nil {
			it.Status, it.Message = StatusFailed, err.Error()
			return
		}
		if len(lost) > 0 {
			it.Status, it.Mismatches = StatusFailed, lost
			it.Message = mismatchText(pr.name, lost)
			if it.canary {
				pr.stopped.CompareAndSwap(nil, &CallError{Provider: pr.name, Op: call.Op, ID: ch.ID, Fatal: true,
					Message: "the canary found a field that did not stick (" + it.Message + "): stopped writing to the service"})
			}
			return
		}
		it.CallsDone++
		a.emit(Event{Kind: EventCall, Provider: pr.name, Address: ch.Address, Op: call.Op})
	}
	it.Status = StatusOK
	if len(warnings) > 0 {
		it.Status = StatusWarning
		it.Message = joinUnique(warnings)
	}
}

func joinUnique(ss []string) string {
	seen := map[string]bool{}
	out := ""
	for _, s := range ss {
		if seen[s] {
			continue
		}
		seen[s] = true
		if out != "" {
			out += "; "
		}
		out += s
	}
	return out
}

// recordFor is what the state must remember once call succeeded: the
// fields it settled, with their desired values, and the ids it returned.
// The last call of a disable removes the address.
func recordFor(svc *Service, ch *Change, call Call, out Outcome) Record {
	if ch.Action == ActionDisable && call.Op != "" && isLast(ch, call) {
		return Record{Address: ch.Address, Delete: true}
	}
	rec := Record{Address: ch.Address, IDs: out.IDs}
	if ch.Desired != nil {
		rec.Managed = make([]string, 0, len(ch.Desired.Fields))
		for _, f := range ch.Desired.Fields {
			rec.Managed = append(rec.Managed, f.Name)
		}
		for _, name := range call.Fields {
			if v, ok := ch.Desired.Fields.Get(name); ok {
				rec.Set = append(rec.Set, Field{Name: name, Value: v})
			}
		}
		for _, p := range ch.Desired.Params {
			if k := svc.Key(p.Name); k != nil && k.Addresses && !p.Value.IsNull() {
				rec.IDs = rec.IDs.Clone().Set(p.Name, p.Value)
			}
		}
	}
	return rec
}

func isLast(ch *Change, call Call) bool {
	last := ch.Calls[len(ch.Calls)-1]
	return last.Op == call.Op && last.Path == call.Path && last.Method == call.Method
}

func (a *applier) record(rec Record) error {
	if a.recFail.Load() {
		return errors.New("not recorded: the state journal failed earlier")
	}
	if err := a.opts.Recorder.Record(rec); err != nil {
		err = fmt.Errorf("recording %s: %w", rec.Address, err)
		a.recErrMu.Lock()
		if a.recErr == nil {
			a.recErr = err
		}
		a.recErrMu.Unlock()
		a.recFail.Store(true) // stop: a call we cannot record must not be repeated blindly
		return err
	}
	return nil
}

// guarded makes one call to pr's service under its credential probe (see
// providerRun) and its retries: after a 401 or 403 no call is made, and the
// error wraps ErrProviderStopped.
func (a *applier) guarded(ctx context.Context, pr *providerRun, address, op string, do func(context.Context) error) error {
	probing := pr.enter()
	if ce := pr.stopped.Load(); ce != nil {
		pr.leave(probing, ce)
		return fmt.Errorf("%w (%s)", ErrProviderStopped, ce.Error())
	}
	err := a.retry(ctx, pr, address, op, do)
	var ce *CallError
	if errors.As(err, &ce) && ce.Fatal {
		pr.stopped.CompareAndSwap(nil, ce)
	}
	pr.leave(probing, err)
	return err
}

// retry runs do, whose requests the provider's HTTP layer admits through
// pr's gate (a -parallelism slot, then a rate-limit token, right before each
// request), retrying what the provider classified as retryable:
// exponential backoff with jitter, honouring Retry-After, slowing the
// provider's rate after a 429, up to max_retries.
func (a *applier) retry(ctx context.Context, pr *providerRun, address, op string, do func(context.Context) error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = a.opts.BackoffInitial
	bo.MaxInterval = 30 * time.Second
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.5
	bo.Reset()
	gctx := WithGate(ctx, pr.gate)
	budget := pr.cfg.CallBudget
	if budget <= 0 {
		budget = DefaultCallBudget
	}
	deadline := time.Now().Add(budget)
	for attempt := 1; ; attempt++ {
		err := do(gctx)
		if err == nil {
			pr.failures.Store(0)
			pr.lim.Succeeded()
			return nil
		}
		if errors.Is(err, ErrStopped) {
			return ErrStopped
		}
		var ce *CallError
		if !errors.As(err, &ce) || !ce.Retryable {
			return err
		}
		if ce.Unreachable && !pr.open.Load() {
			// The service's first call could not even be sent: nothing
			// listens there, or the host does not exist. Stop the
			// service rather than retry every customer.
			stop := *ce
			stop.Fatal, stop.Retryable = true, false
			return &stop
		}
		if n := pr.failures.Add(1); n >= StopAfterFailures {
			stop := *ce
			stop.Fatal, stop.Retryable = true, false
			stop.Message = fmt.Sprintf("%d requests in a row failed with no success in between (last: %s); stopped calling the service", n, cmp.Or(ce.Message, errText(ce.Err)))
			return &stop
		}
		if pr.cfg.MaxRetries >= 0 && attempt > pr.cfg.MaxRetries {
			return err
		}
		if ce.Status == 429 {
			pr.lim.Slow()
		}
		wait := bo.NextBackOff()
		asked := ce.RetryAfter
		if asked > wait {
			wait = min(asked, MaxRetryAfter)
		}
		if time.Now().Add(wait).After(deadline) {
			return &budgetError{err: err, budget: budget, attempts: attempt}
		}
		a.emit(Event{Kind: EventRetry, Provider: pr.name, Address: address, Op: op, Attempt: attempt, Wait: wait, RetryAfter: asked, Err: err})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.stopped.Done():
			t.Stop()
			return ErrStopped
		}
	}
}

// budgetError is a call that gave up: its next retry would outlast its
// call budget. It unwraps to the last failure.
type budgetError struct {
	err      error
	budget   time.Duration
	attempts int
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts: the next retry would outlast the call's %v budget)", e.err, e.attempts, e.budget)
}

func (e *budgetError) Unwrap() error { return e.err }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Bounds on one call's time (issue 12): a Retry-After asks for at most
// MaxRetryAfter; a call gives up once its retries would outlast its
// CallBudget; a service whose requests fail StopAfterFailures times in a
// row, with no success in between, stops the way a 401 does (20 % of
// requests failing at random never gets near: 0.2^30).
const (
	MaxRetryAfter     = time.Minute
	DefaultCallBudget = 2 * time.Minute
	StopAfterFailures = 30
)

// defaultBackoff is the first retry delay.
const defaultBackoff = 500 * time.Millisecond
