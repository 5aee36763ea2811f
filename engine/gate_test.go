package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// latencyService answers every request after latency. It stands for a
// service and for the HTTP layer: every request is admitted through the
// gate first, as providers/internal/httpx does. Creates of the ids in fresh
// take two requests (an update answered "not found", then the create), as
// TomTicket's do. Like the real TomTicket, it answers 429 to a request that
// arrives when `limit` others arrived within the last second.
type latencyService struct {
	scriptedProvider
	latency time.Duration
	fresh   map[string]bool
	limit   int

	mu       sync.Mutex
	arrivals []time.Time
	refused  int
}

func (l *latencyService) request(ctx context.Context) error {
	release, err := Admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	now := time.Now()
	l.mu.Lock()
	recent := 0
	for _, at := range l.arrivals {
		if now.Sub(at) < time.Second {
			recent++
		}
	}
	l.arrivals = append(l.arrivals, now)
	refused := l.limit > 0 && recent >= l.limit
	if refused {
		l.refused++
	}
	l.mu.Unlock()
	time.Sleep(l.latency)
	if refused {
		return &CallError{Provider: l.name, Status: 429, Retryable: true}
	}
	return nil
}

func (l *latencyService) Do(ctx context.Context, ch *Change, _ Call) (Outcome, error) {
	if err := l.request(ctx); err != nil {
		return Outcome{}, err
	}
	if l.fresh[ch.ID] {
		if err := l.request(ctx); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Status: 200}, nil
}

// TestMixedApplyKeepsTomTicketsWindow is issue 10's mixed apply: slow
// BonifiQ calls fill -parallelism while TomTicket creates (some with their
// fallback request) wait. Tokens are taken only once a request holds its
// slot, right before it goes out, and free slots go to the services in turn,
// so TomTicket never gets more than 3 requests into any second, draws no
// 429, and still uses its limit.
func TestMixedApplyKeepsTomTicketsWindow(t *testing.T) {
	for _, parallelism := range []int{10, 4} {
		t.Run(fmt.Sprintf("parallelism %d", parallelism), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bq := &latencyService{scriptedProvider: scriptedProvider{name: BonifiQ}, latency: 700 * time.Millisecond}
				tt := &latencyService{scriptedProvider: scriptedProvider{name: TomTicket}, latency: 80 * time.Millisecond, fresh: map[string]bool{}, limit: 3}
				p := changes(BonifiQ, 80, "name")
				planCalls(p, bq)
				ttp := changes(TomTicket, 30, "name")
				for i, ch := range ttp.Changes {
					ch.Action = ActionCreate
					if i%3 == 0 {
						tt.fresh[ch.ID] = true // not in TomTicket yet: update, then create
					}
				}
				planCalls(ttp, tt)
				p.Changes = append(p.Changes, ttp.Changes...)
				res, err := Apply(context.Background(), p, ApplyOptions{Registry: testReg,
					Providers: map[string]Provider{BonifiQ: bq, TomTicket: tt},
					Configs: map[string]ProviderConfig{
						BonifiQ:   {RateLimit: 20, Burst: 1, Concurrency: 16, MaxRetries: 5, Timeout: time.Minute},
						TomTicket: {RateLimit: 3, Burst: 1, Concurrency: 4, MaxRetries: 5, Timeout: time.Minute},
					},
					Parallelism: parallelism,
					Recorder:    &memRecorder{},
				})
				if err != nil || res.Failed != 0 || res.NotAttempted != 0 {
					t.Fatalf("apply: %v, %+v", err, res)
				}
				times := slices.Clone(tt.arrivals)
				if want := 30 + len(tt.fresh); len(times) != want {
					t.Errorf("TomTicket received %d requests, want %d", len(times), want)
				}
				if n := maxInWindow(times, time.Second); n > 3 {
					t.Errorf("%d TomTicket requests within one second (fallbacks included); TomTicket allows 3", n)
				}
				if tt.refused != 0 {
					t.Errorf("TomTicket answered 429 %d times", tt.refused)
				}
				span := times[len(times)-1].Sub(times[0]).Seconds()
				rate := float64(len(times)-1) / span
				if rate < 0.85*3 {
					t.Errorf("TomTicket got %.2f requests/s, want at least 85%% of its 3/s", rate)
				}
				t.Logf("TomTicket: %d requests, at most %d in a second, %.2f/s (%.0f%% of 3/s), %d answered 429", len(times), maxInWindow(times, time.Second), rate, rate/3*100, tt.refused)
			})
		})
	}
}

// TestSlotsGoToServicesInTurn: with every slot taken, waiting requests of
// two services are served alternately, not in arrival order.
func TestSlotsGoToServicesInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 2)
		if err := s.acquire(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for _, svc := range []int{0, 0, 0, 1, 1, 1} {
			wg.Go(func() {
				if err := s.acquire(context.Background(), svc); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, svc)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				s.release()
			})
			synctest.Wait() // queued in this order
		}
		s.release()
		wg.Wait()
		if want := []int{0, 1, 0, 1, 0, 1}; !slices.Equal(order, want) {
			t.Errorf("slots went to services %v, want %v (in turn)", order, want)
		}
	})
}

// TestAdmitGivesUpOnStop: a request waiting for its slot is not sent once
// apply is asked to start no new calls, and the slot stays free.
func TestAdmitGivesUpOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 1)
		stop, cancel := context.WithCancel(context.Background())
		g := &gate{slots: s, lim: NewTokenBucket(0, 1), stop: stop}
		release, err := g.Admit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := g.Admit(context.Background())
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; err != ErrStopped {
			t.Errorf("Admit after stop = %v, want ErrStopped", err)
		}
		release()
		release() // a second release is harmless
		if s.free != 1 {
			t.Errorf("%d free slots after both ended, want 1", s.free)
		}
	})
}
