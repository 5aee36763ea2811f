package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// failingProvider answers every request with err(n), n counting from 1.
type failingProvider struct {
	scriptedProvider
	n   atomic.Int64
	err func(n int64) error
}

func (f *failingProvider) Do(ctx context.Context, ch *Change, call Call) (Outcome, error) {
	release, err := Admit(ctx)
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	if err := f.err(f.n.Add(1)); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: 200}, nil
}

func bonifiqCfg(mut func(*ProviderConfig)) map[string]ProviderConfig {
	c := ProviderConfig{RateLimit: 1000, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: time.Minute}
	if mut != nil {
		mut(&c)
	}
	return map[string]ProviderConfig{BonifiQ: c}
}

func TestRetryAfterIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &failingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, err: func(n int64) error {
			if n <= 2 {
				return &CallError{Provider: BonifiQ, Status: 429, Retryable: true, RetryAfter: 99999 * time.Second}
			}
			return nil
		}}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		var waits []Event
		start := time.Now()
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov}, Configs: bonifiqCfg(nil),
			Recorder: &memRecorder{}, Events: func(ev Event) {
				if ev.Kind == EventRetry {
					waits = append(waits, ev)
				}
			}})
		if err != nil || res.Updated != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if elapsed := time.Since(start); elapsed > 2*MaxRetryAfter+time.Second {
			t.Errorf("took %v: a Retry-After of 99999s must be capped at %v", elapsed, MaxRetryAfter)
		}
		if len(waits) != 2 || waits[0].Wait != MaxRetryAfter || waits[0].RetryAfter != 99999*time.Second {
			t.Errorf("retry events %+v: want waits of %v, saying the service asked for 99999s", waits, MaxRetryAfter)
		}
	})
}

func TestCallGivesUpWithinItsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &failingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, err: func(int64) error {
			return &CallError{Provider: BonifiQ, Status: 500, Retryable: true}
		}}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		start := time.Now()
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov},
			Configs: bonifiqCfg(func(c *ProviderConfig) { c.CallBudget = time.Minute }), Recorder: &memRecorder{}})
		if err != nil || res.Failed != 1 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		if elapsed := time.Since(start); elapsed > time.Minute {
			t.Errorf("the call took %v, beyond its 1m budget", elapsed)
		}
		if msg := res.Items[0].Message; !strings.Contains(msg, "gave up after") || !strings.Contains(msg, "budget") {
			t.Errorf("message %q does not say the call gave up at its budget", msg)
		}
		if prov.n.Load() < 5 {
			t.Errorf("only %d attempts in a minute", prov.n.Load())
		}
	})
}

func TestMaxRetriesStillBounds(t *testing.T) {
	for _, max := range []int{0, 2} {
		prov := &failingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, err: func(int64) error {
			return &CallError{Provider: BonifiQ, Status: 500, Retryable: true}
		}}
		p := changes(BonifiQ, 1, "name")
		planCalls(p, prov)
		res, _ := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov},
			Configs: bonifiqCfg(func(c *ProviderConfig) { c.MaxRetries = max }), Recorder: &memRecorder{}, BackoffInitial: time.Millisecond})
		if res.Failed != 1 || prov.n.Load() != int64(max+1) {
			t.Errorf("max_retries %d: %d attempts, %+v; want %d", max, prov.n.Load(), res, max+1)
		}
	}
}

func TestUnreachableFirstCallStopsTheService(t *testing.T) {
	prov := &failingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, err: func(int64) error {
		return &CallError{Provider: BonifiQ, Retryable: true, Unreachable: true, Err: errors.New("dial tcp 127.0.0.1:9: connect: connection refused")}
	}}
	p := changes(BonifiQ, 20, "name")
	planCalls(p, prov)
	res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov}, Configs: bonifiqCfg(nil), Recorder: &memRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if prov.n.Load() != 1 || res.Failed != 1 || res.NotAttempted != 19 {
		t.Errorf("%d attempts, %+v: want the first call to stop the service", prov.n.Load(), res)
	}
	if msg := res.Items[0].Message; !strings.Contains(msg, "127.0.0.1:9") {
		t.Errorf("message %q does not name the address", msg)
	}
}

func TestServiceStopsAfterFailuresInARow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &failingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, err: func(n int64) error {
			if n == 1 {
				return nil // the service worked once: not an unreachable first call
			}
			return &CallError{Provider: BonifiQ, Status: 503, Retryable: true, Message: "Service Unavailable"}
		}}
		p := changes(BonifiQ, 200, "name")
		planCalls(p, prov)
		res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg, Providers: map[string]Provider{BonifiQ: prov}, Configs: bonifiqCfg(nil), Recorder: &memRecorder{}})
		if err != nil {
			t.Fatal(err)
		}
		if n := prov.n.Load(); n > StopAfterFailures+1+4 {
			t.Errorf("%d requests: the service should stop after %d failures in a row", n, StopAfterFailures)
		}
		if res.Updated != 1 || res.NotAttempted < 190 {
			t.Errorf("%+v: want the rest not attempted", res)
		}
		found := false
		for _, it := range res.Items {
			found = found || strings.Contains(it.Message, "in a row failed with no success in between")
		}
		if !found {
			t.Error("no change says why the service stopped")
		}
	})
}
