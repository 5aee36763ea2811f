package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// CallStats counts each service's calls and requests: one per call, a
// second for a call that may take two, and the reads that verify writes
// (the canary's, or all with VerifyAll) where answers do not carry the
// record; and their time at the service's rate.
func TestCallStatsCountsRequestsReadsAndTime(t *testing.T) {
	carry := testService("carry", TokenBucket, 4, ServiceKey{Field: "name", Type: TypeString, Readable: true})
	carry.AnswersCarryRecord = true
	plain := testService("plain", TokenBucket, 0, ServiceKey{Field: "name", Type: TypeString, Readable: true})
	reg := MustRegistry(carry, plain)
	mk := func(prov, id string, calls ...Call) *Change {
		return &Change{Address: prov + "/" + id, Provider: prov, ID: id, Action: ActionUpdate, Calls: calls, Desired: &Resource{Provider: prov, ID: id}}
	}
	one, two := Call{Op: "a"}, Call{Op: "b", MayTakeTwo: true}
	p := &Plan{Registry: reg, Providers: map[string]ProviderConfig{"carry": {RateLimit: 4}, "plain": {RateLimit: 3}}}
	for i := range 5 {
		id := string(rune('a' + i))
		p.Changes = append(p.Changes, mk("carry", id, one, two), mk("plain", id, two))
	}
	forget := &Change{Address: "plain/z", Provider: "plain", ID: "z", Action: ActionForget, Calls: []Call{}}
	disable := mk("plain", "y", one)
	disable.Desired = nil       // a write with nothing to verify
	nocalls := mk("plain", "x") // a change with nothing to send is no write
	p.Changes = append(p.Changes, forget, disable, nocalls)

	got := p.CallStats()
	want := []ProviderCalls{
		{Provider: "carry", Calls: 10, MinRequests: 10, MaxRequests: 15, Rate: 4, Duration: 2500 * time.Millisecond, MaxDuration: 3750 * time.Millisecond},
		{Provider: "plain", Calls: 6, MinRequests: 6 + 3, MaxRequests: 11 + 3, VerifyReads: 3, Rate: 3, Duration: 3 * time.Second, MaxDuration: 4666666667},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CallStats (-want +got):\n%s", diff)
	}
	p.Verify = &Verification{Canary: 10}
	if got := p.CallStats(); got[1].VerifyReads != 5 {
		t.Errorf("canary 10: %+v, want a read per write (5), none for a change without calls", got[1])
	}
	p.Verify = &Verification{Canary: 1, All: true}
	if got := p.CallStats(); got[1].VerifyReads != 5 || got[1].MinRequests != 11 {
		t.Errorf("VerifyAll: %+v, want a read per write (5)", got[1])
	}
	p.Verify = &Verification{Canary: 2}
	if got := p.CallStats(); got[1].VerifyReads != 2 {
		t.Errorf("canary 2: %+v", got[1])
	}
	p.Providers["plain"] = ProviderConfig{}
	if got := p.CallStats(); got[1].Duration != 0 || got[1].MaxDuration != 0 {
		t.Errorf("no rate: %+v, want no duration", got[1])
	}
	if got := (&Plan{Registry: reg}).CallStats(); len(got) != 0 {
		t.Errorf("no calls: %+v", got)
	}
}

// Admit ended by its own context while apply is stopped too: the
// context's error, not ErrStopped (the caller cancelled).
func TestAdmitCancelledAndStoppedReportsTheCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 1)
		stop, stopNow := context.WithCancel(context.Background())
		g := &gate{slots: s, lim: &countingLimiter{block: true}, stop: stop}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := g.Admit(ctx)
			done <- err
		}()
		synctest.Wait()
		cancel()
		stopNow()
		if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ErrStopped) {
			t.Errorf("Admit = %v, want context.Canceled", err)
		}
		// With no stop context at all, a cancellation is the context's error.
		g = &gate{slots: s, lim: &countingLimiter{block: true}}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := g.Admit(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Admit without a stop = %v", err)
		}
		if s.free != 1 {
			t.Errorf("%d free slots", s.free)
		}
	})
}

// No limit admits every request at once, however many.
func TestUnlimitedAdmitsEveryRequestAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, lim := range []Limiter{NewTokenBucket(0, 1), NewTokenBucket(-1, 0)} {
			start := time.Now()
			for range 100 {
				if err := lim.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("100 unlimited waits took %v", d)
			}
		}
		// A burst below 1 is a burst of 1.
		lim := NewTokenBucket(10, 0)
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatalf("burst 0: %v", err)
		}
	})
}

// A service with no calls is left out, not the end of the list.
func TestCallStatsSkipsServicesWithoutCalls(t *testing.T) {
	mk := func(prov string) *Change {
		return &Change{Address: prov + "/1", Provider: prov, ID: "1", Action: ActionUpdate, Calls: []Call{{Op: "x"}}}
	}
	p := &Plan{Registry: testReg, Changes: []*Change{mk(BonifiQ), mk(TomTicket)}}
	got := p.CallStats()
	if len(got) != 2 || got[0].Provider != BonifiQ || got[1].Provider != TomTicket {
		t.Errorf("CallStats %+v, want bonifiq and tomticket", got)
	}
}
