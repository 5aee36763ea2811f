package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// inFlight wraps an answer that takes d, counting the requests in flight.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) answer(d time.Duration) func(*Change, Call, int) (Outcome, error) {
	return func(*Change, Call, int) (Outcome, error) {
		f.mu.Lock()
		f.now++
		f.max = max(f.max, f.now)
		f.mu.Unlock()
		time.Sleep(d)
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
		return Outcome{Status: 200}, nil
	}
}

// Workers per service: its concurrency (at least 1), within -parallelism
// (10 by default).
func TestApplyConcurrencyAndParallelismBoundRequestsInFlight(t *testing.T) {
	for _, tt := range []struct {
		concurrency, parallelism, want int
		took                           time.Duration
	}{
		// The first request goes alone (the credential probe), then the
		// other 11 as many at a time as the workers.
		{0, 0, 1, 12 * time.Second},
		{3, 0, 3, 5 * time.Second},
		{16, 0, 10, 3 * time.Second},
		{16, 4, 4, 4 * time.Second},
	} {
		t.Run(fmt.Sprint(tt.concurrency, "/", tt.parallelism), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &inFlight{}
				prov := &scriptedProvider{name: BonifiQ, answer: f.answer(time.Second)}
				p := changes(BonifiQ, 12, "name")
				planCalls(p, prov)
				start := time.Now()
				res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Parallelism: tt.parallelism,
					Providers: map[string]Provider{BonifiQ: prov},
					Configs:   map[string]ProviderConfig{BonifiQ: {Concurrency: tt.concurrency, MaxRetries: 1}}})
				if err != nil || res.Updated != 12 {
					t.Fatalf("apply: %v %+v", err, res)
				}
				if f.max != tt.want || time.Since(start) != tt.took {
					t.Errorf("concurrency %d, parallelism %d: %d in flight, took %v; want %d, %v", tt.concurrency, tt.parallelism, f.max, time.Since(start), tt.want, tt.took)
				}
			})
		})
	}
}

// The default first backoff is half a second (with jitter).
func TestApplyDefaultBackoffIsHalfASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503))}
		res, _, err := applyOne(t, context.Background(), prov, ApplyOptions{})
		if err != nil || res.Updated != 1 || len(prov.times) != 2 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if gap := prov.times[1].Sub(prov.times[0]); gap < 250*time.Millisecond || gap > 750*time.Millisecond {
			t.Errorf("first retry after %v, want 500ms ± 50%%", gap)
		}
	})
}

// MaxRetries 0 means no retry; the budget defaults to DefaultCallBudget,
// and a retry that ends exactly at the deadline is still made.
func TestRetryBoundsMaxRetriesZeroAndDefaultBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503), retryable(503))}
		res, _, _ := applyOne(t, context.Background(), prov, ApplyOptions{
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 1, MaxRetries: 0}}})
		if len(prov.calls) != 1 || res.Failed != 1 {
			t.Errorf("MaxRetries 0: %d requests, result %+v", len(prov.calls), res)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
			return Outcome{}, &CallError{Provider: BonifiQ, Status: 503, Retryable: true, RetryAfter: 40 * time.Second}
		}}
		start := time.Now()
		applyOne(t, context.Background(), prov, ApplyOptions{Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 1, MaxRetries: -1}}})
		// 0, 40, 80, 120 (= the 2 min budget: made), then 160 would outlast it.
		if len(prov.calls) != 4 || time.Since(start) != 120*time.Second {
			t.Errorf("default budget: %d requests in %v, want 4 in 2m", len(prov.calls), time.Since(start))
		}
	})
}

// A service whose first request cannot even be sent (nothing listens) is
// stopped at once; once it has answered, an unreachable request is retried.
func TestRetryUnreachableServiceStopsUnlessItAnsweredBefore(t *testing.T) {
	unreachable := &CallError{Provider: BonifiQ, Retryable: true, Unreachable: true, Message: "connection refused"}
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) { return Outcome{}, unreachable }}
		p := changes(BonifiQ, 5, "name")
		planCalls(p, prov)
		res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov},
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 4, MaxRetries: 5}}})
		if len(prov.calls) != 1 || res.Failed != 1 || res.NotAttempted != 4 {
			t.Errorf("%d requests, result %+v: want one, then the service stopped", len(prov.calls), res)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: answers(nil, unreachable, unreachable)}
		p := changes(BonifiQ, 2, "name")
		planCalls(p, prov)
		res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov},
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 1, MaxRetries: 5}}})
		if len(prov.calls) != 4 || res.Updated != 2 {
			t.Errorf("%d requests, result %+v: want the unreachable requests retried", len(prov.calls), res)
		}
	})
}

// Warnings make the change a warning, each distinct message once; they are
// counted as done.
func TestApplyWarningsJoinedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(_ *Change, call Call, _ int) (Outcome, error) {
			w := map[string]string{"name": "w1", "email": "w1", "phone": "w2"}[call.Op]
			return Outcome{Status: 201, Warning: w}, nil
		}}
		p := changes(BonifiQ, 1, "name", "email", "phone", "document")
		planCalls(p, prov)
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov}})
		if err != nil {
			t.Fatal(err)
		}
		it := res.Items[0]
		if it.Status != StatusWarning || it.Message != "w1; w2" || it.HTTPStatus != 201 || it.CallsDone != 4 {
			t.Errorf("item %+v, want a warning \"w1; w2\"", it)
		}
		if res.Warnings != 1 || res.Updated != 1 || res.Calls != 4 {
			t.Errorf("result %+v", res)
		}
	})
}

// A record holds the fields the call settled, every managed field's name,
// the ids the call returned, and the addressing parameters (not null ones).
func TestRecordForHoldsSettledFieldsIDsAndAddressingParams(t *testing.T) {
	svc := verifyReg.Service(vsvc)
	ch := &Change{Address: "svc/1", Provider: vsvc, ID: "1", Action: ActionUpdate,
		Desired: &Resource{Provider: vsvc, ID: "1", Fields: Fields{{"email", String("e")}, {"name", String("n")}},
			Params: Fields{{"ref", String("r1")}}}}
	rec := recordFor(svc, ch, Call{Op: "put", Fields: []string{"name", "gone"}}, Outcome{IDs: Fields{{"gid", String("g")}}})
	want := Record{Address: "svc/1", Set: Fields{{"name", String("n")}}, Managed: []string{"email", "name"}, IDs: Fields{{"gid", String("g")}, {"ref", String("r1")}}}
	if got := rec; got.Address != want.Address || !equalFields(got.Set, want.Set) || strings.Join(got.Managed, ",") != "email,name" || !equalFields(got.IDs, want.IDs) || got.Delete {
		t.Errorf("record %+v, want %+v", got, want)
	}
	ch.Desired.Params = Fields{{"ref", Null()}}
	if rec := recordFor(svc, ch, Call{Op: "put"}, Outcome{}); len(rec.IDs) != 0 {
		t.Errorf("a null addressing parameter recorded: %v", rec.IDs)
	}
	// A disable's call with no Op (a saved plan's read) does not delete.
	dis := &Change{Address: "svc/1", Provider: vsvc, ID: "1", Action: ActionDisable, Calls: []Call{{Method: "POST", Path: "/p"}}}
	if rec := recordFor(svc, dis, dis.Calls[0], Outcome{}); rec.Delete {
		t.Errorf("a call without Op deleted the address")
	}
	// isLast compares op, path and method.
	two := &Change{Calls: []Call{{Method: "POST", Path: "/a", Op: "x"}, {Method: "PUT", Path: "/a", Op: "x"}}}
	if isLast(two, two.Calls[0]) || !isLast(two, two.Calls[1]) {
		t.Error("isLast")
	}
	if isLast(two, Call{Method: "PUT", Path: "/b", Op: "x"}) || isLast(two, Call{Method: "PUT", Path: "/a", Op: "y"}) {
		t.Error("isLast matched another call")
	}
}

func equalFields(a, b Fields) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Nothing is started after a stop, a forget included; nor after the
// journal failed.
func TestApplyStoppedBeforehandRecordsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		close(stop)
		prov := &scriptedProvider{name: BonifiQ}
		p := changes(BonifiQ, 2, "name")
		planCalls(p, prov)
		p.Changes = append(p.Changes, &Change{Address: "bonifiq/f", Provider: BonifiQ, ID: "f", Action: ActionForget, Calls: []Call{}})
		rec := &memRecorder{}
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: rec, Stop: stop, Providers: map[string]Provider{BonifiQ: prov}})
		if err != nil || len(rec.recs) != 0 || len(prov.calls) != 0 || res.NotAttempted != 3 {
			t.Errorf("apply after a stop: %v, %d records, %d calls, %+v", err, len(rec.recs), len(prov.calls), res)
		}
	})
}

// After the journal fails, no later call is made and no forget recorded.
func TestApplyAfterAJournalFailureStartsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		p := changes(BonifiQ, 1, "name", "email")
		planCalls(p, prov)
		p.Changes = append(p.Changes, &Change{Address: "bonifiq/zz", Provider: BonifiQ, ID: "zz", Action: ActionForget, Calls: []Call{}})
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: failingRecorder{}, Providers: map[string]Provider{BonifiQ: prov},
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 1, MaxRetries: 1}}})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("apply error %v", err)
		}
		if len(prov.calls) != 1 || res.Items[0].Status != StatusFailed || res.Items[1].Status != StatusNotAttempted {
			t.Errorf("%d calls, items %+v %+v", len(prov.calls), res.Items[0], res.Items[1])
		}
	})
}

// A 404 of a create is a failure like another, without the advice to
// refresh; NotFound without the status advises it too.
func TestApplyLostCustomerAdviceOnlyForWhatTheStateHas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tt := range []struct {
			action Action
			ce     *CallError
			advice bool
		}{
			{ActionCreate, &CallError{Provider: BonifiQ, Status: 404, Message: "nf"}, false},
			{ActionUpdate, &CallError{Provider: BonifiQ, Status: 200, NotFound: true, Message: "nf"}, true},
			{ActionUpdate, &CallError{Provider: BonifiQ, Status: 400, Message: "bad"}, false},
		} {
			prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) { return Outcome{}, tt.ce }}
			p := changes(BonifiQ, 1, "name")
			p.Changes[0].Action = tt.action
			planCalls(p, prov)
			res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov}})
			it := res.Items[0]
			if got := strings.Contains(it.Message, "plan -refresh"); got != tt.advice || it.HTTPStatus != tt.ce.Status || it.Status != StatusFailed {
				t.Errorf("%s %+v: item %+v, advice %v", tt.action, tt.ce, it, got)
			}
		}
	})
}

// The changes not attempted because the service was stopped (a 401) say so.
func TestApplyChangesAfterA401SayWhyNotAttempted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
			return Outcome{}, &CallError{Provider: BonifiQ, Status: 401, Fatal: true, Message: "bad credentials"}
		}}
		p := changes(BonifiQ, 3, "name")
		planCalls(p, prov)
		res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov},
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 1, MaxRetries: 1}}})
		for _, it := range res.Items[1:] {
			if it.Status != StatusNotAttempted || !strings.Contains(it.Message, ErrProviderStopped.Error()) || !strings.Contains(it.Message, "bad credentials") {
				t.Errorf("item %+v", it)
			}
		}
	})
}

// countingFailRecorder fails its second record and counts every call.
type countingFailRecorder struct {
	mu sync.Mutex
	n  int
}

func (r *countingFailRecorder) Record(Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.n == 2 {
		return errorString("disk full")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Once the journal failed, a call that was in flight is not recorded: the
// journal is not asked again, the change fails saying why, and apply's
// error names the first failure.
func TestApplyAfterTheJournalFailedRecordsNothingMore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first (probe) request ends at 1 s, recorded; the next two start
		// then, together: the second's record fails at 2 s, the third's
		// answer comes at 3 s.
		prov := &scriptedProvider{name: BonifiQ, answer: answersInOrder(time.Second, time.Second, 2*time.Second)}
		p := changes(BonifiQ, 3, "name")
		planCalls(p, prov)
		rec := &countingFailRecorder{}
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: rec, Providers: map[string]Provider{BonifiQ: prov},
			Configs: map[string]ProviderConfig{BonifiQ: {Concurrency: 2, MaxRetries: 1}}})
		if err == nil || !strings.HasPrefix(err.Error(), "recording bonifiq/") || !strings.HasSuffix(err.Error(), ": disk full") {
			t.Errorf("apply error %v, want the failed record's", err)
		}
		if rec.n != 2 || len(prov.calls) != 3 {
			t.Errorf("the journal was asked %d times for %d calls, want 2 for 3", rec.n, len(prov.calls))
		}
		msgs := map[string]int{}
		for _, it := range res.Items {
			msgs[string(it.Status)+" "+it.Message]++
		}
		if msgs["failed not recorded: the state journal failed earlier"] != 1 || msgs["ok "] != 1 || res.Updated != 1 || res.Failed != 2 {
			t.Errorf("messages %v, result %+v", msgs, res)
		}
	})
}

// answersInOrder answers the n-th request after ds[n-1].
func answersInOrder(ds ...time.Duration) func(*Change, Call, int) (Outcome, error) {
	return func(_ *Change, _ Call, n int) (Outcome, error) {
		if n <= len(ds) {
			time.Sleep(ds[n-1])
		}
		return Outcome{Status: 200}, nil
	}
}

// A record with no managed fields lists none (not "unknown"): the state
// drops the fields it held.
func TestRecordOfNoManagedFieldsDropsTheOthers(t *testing.T) {
	ch := &Change{Address: "bonifiq/1", Provider: BonifiQ, ID: "1", Action: ActionUpdate, Desired: &Resource{Provider: BonifiQ, ID: "1", Fields: Fields{}}}
	rec := recordFor(testReg.Service(BonifiQ), ch, Call{Op: "x"}, Outcome{})
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", Fields: Fields{{"name", String("old")}}}
	st.ApplyRecord(rec)
	if rec.Managed == nil || len(st.Resources["bonifiq/1"].Fields) != 0 {
		t.Errorf("record %+v left %v", rec, st.Resources["bonifiq/1"].Fields)
	}
}

// The result counts each outcome: created, updated, disabled, forgotten,
// failed, warnings, not attempted, and the calls made.
func TestApplyResultCountsEveryOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(ch *Change, _ Call, _ int) (Outcome, error) {
			switch ch.ID {
			case "w":
				return Outcome{Status: 200, Warning: "careful"}, nil
			case "f":
				return Outcome{}, &CallError{Provider: BonifiQ, Status: 422, Message: "no"}
			}
			return Outcome{Status: 200}, nil
		}}
		mk := func(id string, action Action, fields ...string) *Change {
			ch := &Change{Address: "bonifiq/" + id, Provider: BonifiQ, ID: id, Action: action, Desired: &Resource{Provider: BonifiQ, ID: id}}
			for _, f := range fields {
				ch.Fields = append(ch.Fields, FieldChange{Name: f, After: String("v")})
				ch.Desired.Fields = append(ch.Desired.Fields, Field{Name: f, Value: String("v")})
			}
			ch.Calls = prov.Calls(ch)
			return ch
		}
		p := &Plan{Registry: testReg, Changes: []*Change{
			mk("c1", ActionCreate, "name", "email"), mk("c2", ActionCreate, "name"),
			mk("u", ActionUpdate, "name"), mk("w", ActionUpdate, "name"),
			mk("d", ActionDisable, "enabled"), mk("f", ActionUpdate, "name"),
			{Address: "bonifiq/g", Provider: BonifiQ, ID: "g", Action: ActionForget, Calls: []Call{}},
		}}
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Recorder: &memRecorder{}, Providers: map[string]Provider{BonifiQ: prov}})
		if err != nil {
			t.Fatal(err)
		}
		got := *res
		got.Items = nil
		want := Result{Created: 2, Updated: 2, Disabled: 1, Forgotten: 1, Failed: 1, Warnings: 1, Calls: 6}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	})
}

// The first retry waits BackoffInitial (with jitter), whatever it is.
func TestRetryFirstWaitIsBackoffInitial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: answers(retryable(503))}
		res, _, err := applyOne(t, context.Background(), prov, ApplyOptions{BackoffInitial: 10 * time.Second})
		if err != nil || res.Updated != 1 || len(prov.times) != 2 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if gap := prov.times[1].Sub(prov.times[0]); gap < 5*time.Second || gap > 15*time.Second {
			t.Errorf("first retry after %v, want 10s ± 50%%", gap)
		}
	})
}
