package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scriptedProvider answers calls with a function and logs when each arrived.
type scriptedProvider struct {
	name   string
	mu     sync.Mutex
	times  []time.Time
	calls  []string // "address op"
	answer func(ch *Change, call Call, n int) (Outcome, error)
}

func (s *scriptedProvider) Name() string { return s.name }
func (s *scriptedProvider) Ready() error { return nil }
func (s *scriptedProvider) Calls(ch *Change) []Call {
	var out []Call
	for _, f := range ch.FieldChanges() {
		out = append(out, Call{Method: "POST", Path: "/" + ch.ID + "/" + f.Name, Op: f.Name, Fields: []string{f.Name}})
	}
	return out
}
func (s *scriptedProvider) Do(ctx context.Context, ch *Change, call Call) (Outcome, error) {
	// The fake stands for the HTTP layer too: every request is admitted
	// through the gate (a -parallelism slot, then a rate-limit token).
	release, err := Admit(ctx)
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.calls = append(s.calls, ch.Address+" "+call.Op)
	n := len(s.calls)
	s.mu.Unlock()
	if s.answer == nil {
		return Outcome{Status: 200}, nil
	}
	return s.answer(ch, call, n)
}
func (s *scriptedProvider) Read(context.Context, *Resource, Fields) (*Observed, error) {
	return nil, ErrNotFound
}

type memRecorder struct {
	mu   sync.Mutex
	recs []Record
}

func (m *memRecorder) Record(r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

// changes makes n updates of provider prov, each changing the given fields.
func changes(prov string, n int, fields ...string) *Plan {
	p := &Plan{Registry: testReg}
	for i := range n {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		ch := &Change{Address: prov + "/" + id, Provider: prov, ID: id, Action: ActionUpdate, Desired: &Resource{Provider: prov, ID: id}}
		for _, f := range fields {
			ch.Fields = append(ch.Fields, FieldChange{Name: f, After: String("v-" + f)})
			ch.Desired.Fields = append(ch.Desired.Fields, Field{Name: f, Value: String("v-" + f)})
		}
		p.Changes = append(p.Changes, ch)
	}
	return p
}

func planCalls(p *Plan, prov Provider) {
	for _, ch := range p.Changes {
		ch.Calls = prov.Calls(ch)
	}
}

// maxInWindow returns the most calls that started within any window of d.
func maxInWindow(times []time.Time, d time.Duration) int {
	best := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < d; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

func TestTomTicketWindowNeverExceededAndWellUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: TomTicket}
		p := changes(TomTicket, 60, "name")
		planCalls(p, prov)
		start := time.Now()
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{TomTicket: prov},
			Configs:   map[string]ProviderConfig{TomTicket: {RateLimit: 3, Burst: 1, Concurrency: 8, MaxRetries: 5, Timeout: time.Second}},
			Recorder:  &memRecorder{},
		})
		if err != nil || res.Failed != 0 || res.Updated != 60 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if n := maxInWindow(prov.times, time.Second); n > 3 {
			t.Errorf("%d calls within one second; TomTicket allows 3", n)
		}
		// Measured as the server would: 60 calls over the span they took.
		rate := float64(len(prov.times)-1) / prov.times[len(prov.times)-1].Sub(start).Seconds()
		if rate < 0.85*3 {
			t.Errorf("achieved %.2f calls/s, want at least 85%% of 3/s", rate)
		}
	})
}

func TestTokenBucketRateNeverExceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		p := changes(BonifiQ, 100, "name", "email")
		planCalls(p, prov)
		_, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{BonifiQ: prov},
			Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 20, Burst: 1, Concurrency: 16, MaxRetries: 5, Timeout: time.Second}},
			Recorder:  &memRecorder{},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := maxInWindow(prov.times, time.Second); n > 21 { // rate + burst
			t.Errorf("%d calls within one second at 20/s burst 1", n)
		}
		if len(prov.times) != 200 {
			t.Errorf("%d calls, want 200", len(prov.times))
		}
	})
}

func TestRetryAfterHonouredAndBackoffGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ}
		prov.answer = func(ch *Change, call Call, n int) (Outcome, error) {
			switch n {
			case 1:
				return Outcome{}, &CallError{Provider: BonifiQ, Status: 429, Retryable: true, RetryAfter: 7 * time.Second}
			case 2, 3, 4, 5:
				return Outcome{}, &CallError{Provider: BonifiQ, Status: 503, Retryable: true}
			}
			return Outcome{Status: 200}, nil
		}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		var retries []Event
		var mu sync.Mutex
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers:      map[string]Provider{BonifiQ: prov},
			Configs:        map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: 5, Timeout: time.Second}},
			Recorder:       &memRecorder{},
			BackoffInitial: time.Second,
			Events: func(e Event) {
				if e.Kind == EventRetry {
					mu.Lock()
					retries = append(retries, e)
					mu.Unlock()
				}
			},
		})
		if err != nil || res.Updated != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if len(prov.times) != 6 {
			t.Fatalf("%d attempts, want 6", len(prov.times))
		}
		if gap := prov.times[1].Sub(prov.times[0]); gap < 7*time.Second {
			t.Errorf("retried %v after a Retry-After of 7s", gap)
		}
		// Exponential: the n-th backoff is initial*2^n with ±50% jitter.
		for i := 2; i < 6; i++ {
			gap := prov.times[i].Sub(prov.times[i-1])
			lo := time.Duration(float64(time.Second) * float64(int(1)<<(i-1)) * 0.5)
			hi := time.Duration(float64(time.Second)*float64(int(1)<<(i-1))*1.5) + 10*time.Millisecond
			if gap < lo || gap > hi {
				t.Errorf("backoff %d = %v, want within [%v, %v]", i, gap, lo, hi)
			}
		}
		if len(retries) != 5 {
			t.Errorf("%d retry events, want 5", len(retries))
		}
	})
}

func TestRetriesStopAtMaxRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
			return Outcome{}, &CallError{Provider: BonifiQ, Status: 500, Retryable: true}
		}}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{BonifiQ: prov},
			Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 100, Burst: 1, Concurrency: 1, MaxRetries: 3, Timeout: time.Second}},
			Recorder:  &memRecorder{},
		})
		if len(prov.times) != 4 || res.Failed != 1 || res.Items[0].HTTPStatus != 500 {
			t.Errorf("attempts = %d, result %+v; want 4 attempts (1 + 3 retries) and a failure", len(prov.times), res)
		}
	})
}

func TestRateDropsAfter429AndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewTokenBucket(10, 1)
		lim.Slow()
		if r := lim.Rate(); r != 5 {
			t.Fatalf("after a 429 the rate is %v, want 5", r)
		}
		lim.Slow() // the 429 of another call in flight: the same overload
		if r := lim.Rate(); r != 5 {
			t.Fatalf("after a second 429 at once the rate is %v, want 5", r)
		}
		time.Sleep(time.Second)
		lim.Slow()
		if r := lim.Rate(); r != 2.5 {
			t.Fatalf("after a 429 a second later the rate is %v, want 2.5", r)
		}
		time.Sleep(time.Second)
		lim.Slow()
		if r := lim.Rate(); r != 2.5 {
			t.Fatalf("the rate fell to %v, below its floor of a quarter", r)
		}
		var rates []float64
		for range 200 {
			if err := lim.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			lim.Succeeded()
			rates = append(rates, lim.Rate())
		}
		for i := 1; i < len(rates); i++ {
			if rates[i] < rates[i-1] {
				t.Fatalf("rate fell while recovering: %v", rates[:i+1])
			}
		}
		if rates[len(rates)-1] != 10 {
			t.Errorf("rate recovered to %v, want 10", rates[len(rates)-1])
		}
		if rates[5] >= 10 {
			t.Errorf("rate recovered at once (%v): want gradually", rates[5])
		}
	})
}

func TestFatalErrorStopsOnlyThatProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bq := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
			return Outcome{}, &CallError{Provider: BonifiQ, Status: 401, Fatal: true, Message: "bad credentials"}
		}}
		tt := &scriptedProvider{name: TomTicket}
		p := changes(BonifiQ, 20, "name")
		planCalls(p, bq)
		p2 := changes(TomTicket, 5, "name")
		planCalls(p2, tt)
		p.Changes = append(p.Changes, p2.Changes...)
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{BonifiQ: bq, TomTicket: tt},
			Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 100, Burst: 1, Concurrency: 8, MaxRetries: 5, Timeout: time.Second}},
			Recorder:  &memRecorder{},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(bq.calls) != 1 { // even with 8 workers: the first call goes alone
			t.Errorf("bonifiq got %d calls after a 401, want 1", len(bq.calls))
		}
		if res.Failed != 1 || res.NotAttempted != 19 || res.Updated != 5 {
			t.Errorf("result: failed %d, not attempted %d, updated %d; want 1, 19, 5", res.Failed, res.NotAttempted, res.Updated)
		}
	})
}

func TestFieldLevelRecording(t *testing.T) {
	prov := &scriptedProvider{name: BonifiQ, answer: func(ch *Change, call Call, n int) (Outcome, error) {
		if call.Op == "tier.id" {
			return Outcome{}, &CallError{Provider: BonifiQ, Op: "changetier", Status: 422, Message: "Tier_NotFound"}
		}
		return Outcome{Status: 200, IDs: Fields{{Name: "PublicId", Value: String("p1")}}}, nil
	}}
	p := changes(BonifiQ, 1, "name", "tier.id")
	planCalls(p, prov)
	rec := &memRecorder{}
	res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov}, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{Address: p.Changes[0].Address, Set: Fields{{Name: "name", Value: String("v-name")}}, Managed: []string{"name", "tier.id"}, IDs: Fields{{Name: "PublicId", Value: String("p1")}}}}
	if diff := cmp.Diff(want, rec.recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if res.Failed != 1 || res.Items[0].HTTPStatus != 422 || res.Items[0].CallsDone != 1 {
		t.Errorf("item: %+v", res.Items[0])
	}
	st := NewState()
	for _, r := range rec.recs {
		st.ApplyRecord(r)
	}
	if v, _ := st.Resources[p.Changes[0].Address].Fields.Get("name"); v != String("v-name") {
		t.Errorf("state after the partial change: %+v", st.Resources)
	}
	if _, ok := st.Resources[p.Changes[0].Address].Fields.Get("tier.id"); ok {
		t.Errorf("the failed tier change was recorded")
	}
}

func TestStopStartsNoNewCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		prov := &scriptedProvider{name: BonifiQ}
		prov.answer = func(ch *Change, call Call, n int) (Outcome, error) {
			if n == 3 {
				close(stop)
			}
			time.Sleep(100 * time.Millisecond)
			return Outcome{Status: 200}, nil
		}
		p := changes(BonifiQ, 50, "name")
		planCalls(p, prov)
		rec := &memRecorder{}
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{BonifiQ: prov},
			Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 2, MaxRetries: 5, Timeout: time.Second}},
			Recorder:  rec, Stop: stop,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(prov.calls) > 4 || len(rec.recs) != len(prov.calls) {
			t.Errorf("%d calls made and %d recorded after the stop at call 3", len(prov.calls), len(rec.recs))
		}
		if res.NotAttempted != 50-len(prov.calls) {
			t.Errorf("not attempted %d, want %d", res.NotAttempted, 50-len(prov.calls))
		}
	})
}

func TestRecorderFailureStopsApply(t *testing.T) {
	prov := &scriptedProvider{name: BonifiQ}
	p := changes(BonifiQ, 10, "name")
	planCalls(p, prov)
	res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
		Providers: map[string]Provider{BonifiQ: prov},
		Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 1000, Burst: 1, Concurrency: 1, MaxRetries: 5, Timeout: time.Second}},
		Recorder:  failingRecorder{},
	})
	if err == nil || res.Updated != 0 || len(prov.calls) != 1 {
		t.Errorf("err %v, updated %d, calls %d: want an error after the first call", err, res.Updated, len(prov.calls))
	}
}

type failingRecorder struct{}

func (failingRecorder) Record(Record) error { return errors.New("disk full") }

// fallbackProvider makes two requests per call, as a create does when its
// update is answered 404 and it falls back to a create.
type fallbackProvider struct {
	scriptedProvider
}

func (f *fallbackProvider) Do(ctx context.Context, ch *Change, call Call) (Outcome, error) {
	for range 2 {
		release, err := Admit(ctx)
		if err != nil {
			return Outcome{}, err
		}
		f.mu.Lock()
		f.times = append(f.times, time.Now())
		f.mu.Unlock()
		release()
	}
	return Outcome{Status: 200}, nil
}

func TestFallbackRequestsStayWithinTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &fallbackProvider{scriptedProvider{name: TomTicket}}
		p := changes(TomTicket, 30, "name")
		planCalls(p, prov)
		start := time.Now()
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{TomTicket: prov},
			Configs:   map[string]ProviderConfig{TomTicket: {RateLimit: 3, Burst: 1, Concurrency: 4, MaxRetries: 5, Timeout: time.Minute}},
			Recorder:  &memRecorder{},
		})
		if err != nil || res.Updated != 30 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if n := maxInWindow(prov.times, time.Second); n > 3 {
			t.Errorf("%d requests within one second, counting fallbacks; TomTicket allows 3", n)
		}
		rate := float64(len(prov.times)-1) / prov.times[len(prov.times)-1].Sub(start).Seconds()
		if rate < 0.85*3 {
			t.Errorf("achieved %.2f requests/s, want at least 85%% of 3/s", rate)
		}
	})
}

func TestUpdateOfALostCustomerSuggestsRefresh(t *testing.T) {
	prov := &scriptedProvider{name: BonifiQ, answer: func(*Change, Call, int) (Outcome, error) {
		return Outcome{}, &CallError{Provider: BonifiQ, Op: "update", ID: "aaa", Status: 404, Message: "Customer_NotFound"}
	}}
	p := changes(BonifiQ, 1, "name")
	planCalls(p, prov)
	res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov}, Recorder: &memRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if it := res.Items[0]; it.Status != StatusFailed || it.HTTPStatus != 404 || !strings.Contains(it.Message, "reconcile plan -refresh") {
		t.Errorf("item %+v: want a 404 failure suggesting plan -refresh", it)
	}
	if len(prov.calls) != 1 {
		t.Errorf("%d calls: a 404 is not retried", len(prov.calls))
	}
}
