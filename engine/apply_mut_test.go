package engine

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingLimiter admits at once (or never, when block is set: then Wait
// ends only with its context) and counts Slow and Succeeded.
type countingLimiter struct {
	block             bool
	slow, succeeded   atomic.Int64
	waits, waitFailed atomic.Int64
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	if l.block {
		<-ctx.Done()
	}
	if err := ctx.Err(); err != nil {
		l.waitFailed.Add(1)
		return err
	}
	return nil
}
func (l *countingLimiter) Slow()         { l.slow.Add(1) }
func (l *countingLimiter) Succeeded()    { l.succeeded.Add(1) }
func (l *countingLimiter) Rate() float64 { return 1 }

// answers returns a scripted answer function: the n-th request gets errs[n-1],
// success after them.
func answers(errs ...error) func(*Change, Call, int) (Outcome, error) {
	return func(_ *Change, _ Call, n int) (Outcome, error) {
		if n <= len(errs) && errs[n-1] != nil {
			return Outcome{}, errs[n-1]
		}
		return Outcome{Status: 200}, nil
	}
}

func retryable(status int) error {
	return &CallError{Provider: BonifiQ, Status: status, Retryable: true}
}

// applyOne applies one update of bonifiq (one call) with opts' Providers,
// Recorder and Registry filled in.
func applyOne(t *testing.T, ctx context.Context, prov *scriptedProvider, opts ApplyOptions) (*Result, *memRecorder, error) {
	t.Helper()
	p := changes(BonifiQ, 1, "name")
	planCalls(p, prov)
	rec := &memRecorder{}
	opts.Registry, opts.Recorder = testReg, rec
	opts.Providers = map[string]Provider{BonifiQ: prov}
	if opts.Configs == nil {
		opts.Configs = map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: 5, Timeout: time.Second}}
	}
	res, err := Apply(ctx, p, opts)
	return res, rec, err
}

// notDone checks that the one change was neither counted nor recorded.
func notDone(t *testing.T, res *Result, rec *memRecorder) {
	t.Helper()
	if len(rec.recs) != 0 {
		t.Errorf("recorded %+v: a call that was not made counted as done", rec.recs)
	}
	if res.Updated != 0 || res.Calls != 0 || res.Items[0].Status == StatusOK {
		t.Errorf("result %+v, item %+v: want the change not done", res, res.Items[0])
	}
}

func TestRetryCancelledDuringBackoffIsNotSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503))}
		time.AfterFunc(100*time.Millisecond, cancel)
		res, rec, err := applyOne(t, ctx, prov, ApplyOptions{BackoffInitial: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(prov.calls) != 1 {
			t.Errorf("%d requests, want 1 (cancelled during the backoff)", len(prov.calls))
		}
		notDone(t, res, rec)
		if res.NotAttempted != 1 {
			t.Errorf("not attempted %d, want 1", res.NotAttempted)
		}
	})
}

func TestRetryStoppedDuringBackoffIsNotSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503))}
		time.AfterFunc(100*time.Millisecond, func() { close(stop) })
		start := time.Now()
		res, rec, err := applyOne(t, context.Background(), prov, ApplyOptions{BackoffInitial: 10 * time.Second, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("apply took %v after a stop at 100ms during a 10s backoff", d)
		}
		if len(prov.calls) != 1 {
			t.Errorf("%d requests, want 1 (stopped during the backoff)", len(prov.calls))
		}
		notDone(t, res, rec)
	})
}

func TestRetryStoppedWhileWaitingForTokenIsNotSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		lim := &countingLimiter{block: true}
		prov := &scriptedProvider{name: BonifiQ}
		time.AfterFunc(100*time.Millisecond, func() { close(stop) })
		res, rec, err := applyOne(t, context.Background(), prov, ApplyOptions{Stop: stop, Limiters: map[string]Limiter{BonifiQ: lim}})
		if err != nil {
			t.Fatal(err)
		}
		if len(prov.calls) != 0 || lim.waitFailed.Load() != 1 {
			t.Errorf("%d requests, %d failed waits; want none sent, one wait given up", len(prov.calls), lim.waitFailed.Load())
		}
		notDone(t, res, rec)
		if lim.succeeded.Load() != 0 {
			t.Errorf("a request never sent counted as a success of the service")
		}
	})
}

func TestRetryCancelledWhileWaitingForTokenIsNotSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lim := &countingLimiter{block: true}
		prov := &scriptedProvider{name: BonifiQ}
		time.AfterFunc(100*time.Millisecond, cancel)
		res, rec, err := applyOne(t, ctx, prov, ApplyOptions{Limiters: map[string]Limiter{BonifiQ: lim}})
		if err != nil {
			t.Fatal(err)
		}
		if len(prov.calls) != 0 {
			t.Errorf("%d requests sent after the wait for a token was cancelled", len(prov.calls))
		}
		notDone(t, res, rec)
	})
}

// Only a 429 slows the service; a success lets it recover.
func TestRetryA429SlowsAndASuccessRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := &countingLimiter{}
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503), retryable(503), retryable(429))}
		res, rec, err := applyOne(t, context.Background(), prov, ApplyOptions{Limiters: map[string]Limiter{BonifiQ: lim}})
		if err != nil || res.Updated != 1 || len(rec.recs) != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if n := lim.slow.Load(); n != 1 {
			t.Errorf("Slow called %d times for two 503s and a 429, want once", n)
		}
		if n := lim.succeeded.Load(); n != 1 {
			t.Errorf("Succeeded called %d times for one success, want once", n)
		}
		if len(prov.calls) != 4 {
			t.Errorf("%d requests, want 4", len(prov.calls))
		}
	})
}

// A 429's Retry-After is honoured (up to MaxRetryAfter), and a longer
// backoff wins over a shorter Retry-After.
func TestRetryWaitIsTheLongerOfBackoffAndRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ra := func(d time.Duration) error {
			return &CallError{Provider: BonifiQ, Status: 429, Retryable: true, RetryAfter: d}
		}
		var mu sync.Mutex
		var waits []time.Duration
		prov := &scriptedProvider{name: BonifiQ, answer: answers(ra(10*time.Minute), ra(time.Millisecond))}
		res, _, err := applyOne(t, context.Background(), prov, ApplyOptions{BackoffInitial: 4 * time.Second,
			Configs: map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: 5, CallBudget: time.Hour}},
			Events: func(e Event) {
				if e.Kind == EventRetry {
					mu.Lock()
					waits = append(waits, e.Wait, e.RetryAfter)
					mu.Unlock()
				}
			}})
		if err != nil || res.Updated != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if len(waits) != 4 || waits[0] != MaxRetryAfter || waits[1] != 10*time.Minute || waits[2] < 4*time.Second || waits[3] != time.Millisecond {
			t.Errorf("waits and Retry-Afters %v: want 1m (of 10m asked), then the backoff over 1ms", waits)
		}
		if gap := prov.times[1].Sub(prov.times[0]); gap != MaxRetryAfter {
			t.Errorf("second request %v after the first, want %v", gap, MaxRetryAfter)
		}
	})
}

// A call whose next retry would outlast its budget gives up at once.
func TestRetryGivesUpWhenTheBudgetWouldBeOutlasted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
			return Outcome{}, &CallError{Provider: BonifiQ, Status: 503, Retryable: true, RetryAfter: 30 * time.Second}
		}}
		start := time.Now()
		res, rec, _ := applyOne(t, context.Background(), prov, ApplyOptions{
			Configs: map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: -1, CallBudget: 100 * time.Second}}})
		if len(prov.calls) != 4 || time.Since(start) != 90*time.Second {
			t.Errorf("%d requests in %v, want 4 in 90s (a fifth would start after the 100s budget)", len(prov.calls), time.Since(start))
		}
		if res.Failed != 1 || len(rec.recs) != 0 {
			t.Errorf("result %+v, want one failure", res)
		}
		// The give-up names the last failure: its status, and why it stopped.
		if it := res.Items[0]; it.HTTPStatus != 503 || !strings.Contains(it.Message, "gave up after 4 attempts") {
			t.Errorf("item %+v, want the 503 and the give-up", it)
		}
	})
}

// A success resets the count of requests failed in a row: 29 failures,
// a success, 29 failures do not stop the service.
func TestRetrySuccessResetsTheFailuresInARow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var errs []error
		for i := range 2*(StopAfterFailures-1) + 1 {
			if i == StopAfterFailures-1 {
				errs = append(errs, nil)
				continue
			}
			errs = append(errs, retryable(503))
		}
		prov := &scriptedProvider{name: BonifiQ, answer: answers(errs...)}
		p := changes(BonifiQ, 2, "name")
		planCalls(p, prov)
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Canary: 0,
			Providers:      map[string]Provider{BonifiQ: prov},
			BackoffInitial: time.Millisecond,
			Configs:        map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: -1, CallBudget: time.Hour}}})
		if err != nil || res.Updated != 2 {
			t.Fatalf("apply: %v, result %+v %v", err, res, res.Items[1].Message)
		}
	})
}

// The StopAfterFailures-th failure in a row stops the service.
func TestRetryFailuresInARowStopTheService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) { return Outcome{}, retryable(503) }}
		res, _, _ := applyOne(t, context.Background(), prov, ApplyOptions{BackoffInitial: time.Millisecond,
			Configs: map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: -1, CallBudget: time.Hour}}})
		if len(prov.calls) != StopAfterFailures || res.Failed != 1 {
			t.Errorf("%d requests, result %+v; want %d and a failure", len(prov.calls), res, StopAfterFailures)
		}
	})
}

// A disable's last call removes the address from the state; a forget
// removes it with no call.
func TestDisableAndForgetRecordTheAddressDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		dis := &Change{Address: "bonifiq/d", Provider: BonifiQ, ID: "d", Action: ActionDisable,
			Fields:  []FieldChange{{Name: "enabled", After: Bool(false)}},
			Desired: &Resource{Provider: BonifiQ, ID: "d", Fields: Fields{{Name: "enabled", Value: Bool(false)}}}}
		dis.Calls = []Call{{Method: "POST", Path: "/d/enabled", Op: "enabled", Fields: []string{"enabled"}}}
		fg := &Change{Address: "bonifiq/f", Provider: BonifiQ, ID: "f", Action: ActionForget, Calls: []Call{}}
		p := &Plan{Registry: testReg, Changes: []*Change{dis, fg}}
		rec := &memRecorder{}
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: rec, Providers: map[string]Provider{BonifiQ: prov}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Disabled != 1 || res.Forgotten != 1 || res.Items[0].Status != StatusOK || res.Items[1].Status != StatusOK {
			t.Fatalf("result %+v", res)
		}
		want := map[string]bool{"bonifiq/d": true, "bonifiq/f": true}
		for _, r := range rec.recs {
			if !r.Delete || len(r.Set) != 0 || !want[r.Address] {
				t.Errorf("record %+v, want the address deleted", r)
			}
			delete(want, r.Address)
		}
		if len(want) != 0 {
			t.Errorf("no delete record for %v", want)
		}
	})
}

// A disable of two calls deletes the address only after the last one.
func TestDisableDeletesOnlyAfterItsLastCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		dis := &Change{Address: "bonifiq/d", Provider: BonifiQ, ID: "d", Action: ActionDisable,
			Desired: &Resource{Provider: BonifiQ, ID: "d", Fields: Fields{{Name: "enabled", Value: Bool(false)}}}}
		dis.Calls = []Call{{Method: "POST", Path: "/d/a", Op: "a"}, {Method: "POST", Path: "/d/b", Op: "b"}}
		rec := &memRecorder{}
		if _, err := Apply(context.Background(), &Plan{Registry: testReg, Changes: []*Change{dis}}, ApplyOptions{Registry: testReg, Recorder: rec, Providers: map[string]Provider{BonifiQ: prov}}); err != nil {
			t.Fatal(err)
		}
		if len(rec.recs) != 2 || rec.recs[0].Delete || !rec.recs[1].Delete {
			t.Errorf("records %+v: want the delete last only", rec.recs)
		}
	})
}

// A forget after a failed journal is not recorded as done.
func TestForgetAfterAJournalFailureIsNotDone(t *testing.T) {
	fg := &Change{Address: "bonifiq/f", Provider: BonifiQ, ID: "f", Action: ActionForget, Calls: []Call{}}
	res, err := Apply(context.Background(), &Plan{Registry: testReg, Changes: []*Change{fg}}, ApplyOptions{Registry: testReg, Recorder: failingRecorder{}})
	if err == nil || res.Items[0].Status != StatusFailed || res.Forgotten != 0 {
		t.Errorf("apply: %v, result %+v", err, res)
	}
}

// Apply refuses to start without a recorder, a registry, or a provider for
// a change that has calls; the plan's registry serves when none is given.
func TestApplyRefusesWhatItCannotRecordOrCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		provs := map[string]Provider{BonifiQ: prov}
		if _, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: provs}); err == nil {
			t.Error("apply without a recorder started")
		}
		if _, err := Apply(context.Background(), &Plan{Changes: p.Changes}, ApplyOptions{Recorder: &memRecorder{}, Providers: provs}); err == nil {
			t.Error("apply without a registry started")
		}
		if _, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}}); err == nil || !strings.Contains(err.Error(), `no provider "bonifiq"`) {
			t.Errorf("apply without the change's provider: %v", err)
		}
		odd := &Change{Address: "nosuch/1", Provider: "nosuch", ID: "1", Action: ActionForget}
		if _, err := Apply(context.Background(), &Plan{Registry: testReg, Changes: []*Change{odd}}, ApplyOptions{Recorder: &memRecorder{}}); err == nil {
			t.Error("apply of a change of an unknown service started")
		}
		if len(prov.calls) != 0 {
			t.Errorf("%d calls made by refused applies", len(prov.calls))
		}
		rec := &memRecorder{}
		res, err := Apply(context.Background(), p, ApplyOptions{Providers: provs, Recorder: rec})
		if err != nil || res.Updated != 1 || len(rec.recs) != 1 {
			t.Errorf("apply with the plan's registry: %v %+v", err, res)
		}
	})
}

// Events: one per successful call and one per finished change; none for a
// change not attempted.
func TestApplyEventsForCallsAndFinishedChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(ch *Change, _ Call, _ int) (Outcome, error) {
			if ch.ID == "baa" {
				return Outcome{}, &CallError{Provider: BonifiQ, Status: 400, Message: "no"}
			}
			return Outcome{Status: 200}, nil
		}}
		p := changes(BonifiQ, 2, "name", "email")
		planCalls(p, prov)
		var mu sync.Mutex
		kinds := map[EventKind]int{}
		var items []*Item
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov},
			Events: func(e Event) {
				mu.Lock()
				defer mu.Unlock()
				kinds[e.Kind]++
				if e.Kind == EventChange {
					items = append(items, e.Item)
				}
				if e.Time.IsZero() {
					t.Errorf("event %+v without a time", e)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if kinds[EventCall] != 2 || kinds[EventChange] != 2 || len(items) != 2 {
			t.Errorf("events %v, want 2 calls and 2 changes", kinds)
		}
		if res.Items[1].Status != StatusFailed || res.Items[1].HTTPStatus != 400 || res.Items[0].CallsDone != 2 || res.Calls != 2 {
			t.Errorf("items %+v %+v", res.Items[0], res.Items[1])
		}
	})
}

// A change never reached says so: not_attempted, not an empty status.
func TestApplyMarksUnreachedChangesNotAttempted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	prov := &scriptedProvider{name: BonifiQ}
	p := changes(BonifiQ, 3, "name")
	planCalls(p, prov)
	res, err := Apply(ctx, p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		if it.Status != StatusNotAttempted {
			t.Errorf("item %+v, want not_attempted", it)
		}
	}
	if res.NotAttempted != 3 || len(prov.calls) != 0 {
		t.Errorf("result %+v, %d calls", res, len(prov.calls))
	}
}

// An apply given a Stop channel that is never closed leaves nothing
// running behind it (synctest fails on a goroutine left blocked).
func TestApplyWithAnUnusedStopLeavesNothingRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		prov := &scriptedProvider{name: BonifiQ}
		res, rec, err := applyOne(t, context.Background(), prov, ApplyOptions{Stop: stop})
		if err != nil || res.Updated != 1 || len(rec.recs) != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
	})
}
