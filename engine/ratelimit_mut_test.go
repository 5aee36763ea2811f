package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// waitTimes makes n Waits on lim, one after the other, and returns when each
// was admitted, as offsets from the first call.
func waitTimes(t *testing.T, lim Limiter, n int) []time.Duration {
	t.Helper()
	start := time.Now()
	out := make([]time.Duration, 0, n)
	for range n {
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func wantTimes(t *testing.T, got []time.Duration, want ...time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("admitted at %v, want %v", got, want)
		}
	}
}

// At full rate a window of 3 per second spaces calls by (1s+50ms)/3.
func TestSlidingWindowSpacesCallsEvenly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewSlidingWindow(3, time.Second, 50*time.Millisecond)
		wantTimes(t, waitTimes(t, lim, 5), 0, 350*time.Millisecond, 700*time.Millisecond, 1050*time.Millisecond, 1400*time.Millisecond)
		if r := lim.Rate(); r != 3 {
			t.Errorf("rate %v, want 3", r)
		}
	})
}

// After a 429 the window admits fewer calls per window: at half rate, one
// in any 1.05 s. The window itself must count the calls it admitted: the
// spacing alone (0.7 s) would let two through.
func TestSlidingWindowCountsCallsInTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewSlidingWindow(3, time.Second, 50*time.Millisecond)
		lim.Slow()
		if r := lim.Rate(); r != 1.5 {
			t.Fatalf("rate after a 429 = %v, want 1.5", r)
		}
		span := 1050 * time.Millisecond
		wantTimes(t, waitTimes(t, lim, 4), 0, span, 2*span, 3*span)
	})
}

// With n = 5 at half rate (2.5/s) the window admits 2 per window, spaced
// by 0.4 s: the window, counted from the right call (len(sent)-allowed),
// holds the third back to the second after the first.
func TestSlidingWindowCountsFromTheRightCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewSlidingWindow(5, time.Second, 0)
		ms := time.Millisecond
		wantTimes(t, waitTimes(t, lim, 6), 0, 200*ms, 400*ms, 600*ms, 800*ms, 1000*ms)
		time.Sleep(10 * time.Second)
		lim.Slow()
		wantTimes(t, waitTimes(t, lim, 5), 0, 400*ms, 1000*ms, 1400*ms, 2000*ms)
	})
}

// A window that remembers only its last n calls still counts all of them:
// after many calls at full rate the (n+1)th call of a window waits.
func TestSlidingWindowNeverAdmitsMoreThanNInAWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewSlidingWindow(3, time.Second, 0)
		got := waitTimes(t, lim, 30)
		for i := 3; i < len(got); i++ {
			if got[i]-got[i-3] < time.Second {
				t.Fatalf("calls %d and %d within one second: %v", i-3, i, got)
			}
		}
	})
}

// A cancelled wait fails with the context's error and admits nothing.
func TestSlidingWindowCancelledWaitFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewSlidingWindow(1, time.Second, 0)
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := lim.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait = %v, want the deadline", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("gave up after %v, want 100ms", d)
		}
		// The failed wait took no place in the window.
		time.Sleep(900 * time.Millisecond)
		start = time.Now()
		if err := lim.Wait(context.Background()); err != nil || time.Since(start) != 0 {
			t.Errorf("wait after the window passed: %v after %v", err, time.Since(start))
		}
	})
}

// The adaptive rate recovers by time: one step of a tenth of the
// configured rate once a whole second has passed since the last change.
func TestAdaptiveRateRecoversByTimeNotByCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewTokenBucket(10, 1)
		lim.Slow()
		for range 100 {
			lim.Succeeded() // successes in the same instant: no step
		}
		if r := lim.Rate(); r != 5 {
			t.Fatalf("rate %v right after a 429, want 5", r)
		}
		time.Sleep(999 * time.Millisecond)
		lim.Succeeded()
		if r := lim.Rate(); r != 5 {
			t.Fatalf("rate %v before a second passed, want 5", r)
		}
		time.Sleep(time.Millisecond)
		lim.Succeeded()
		if r := lim.Rate(); r != 6 {
			t.Fatalf("rate %v a second after the 429, want 6", r)
		}
		lim.Succeeded()
		if r := lim.Rate(); r != 6 {
			t.Fatalf("rate %v: two steps within a second, want 6", r)
		}
		for want := 7.0; want <= 10; want++ {
			time.Sleep(time.Second)
			lim.Succeeded()
			if r := lim.Rate(); r != want {
				t.Fatalf("rate %v, want %v", r, want)
			}
		}
		time.Sleep(time.Second)
		lim.Succeeded()
		if r := lim.Rate(); r != 10 {
			t.Fatalf("rate %v above the configured 10", r)
		}
	})
}

// A 429 restarts the recovery clock even when it does not lower the rate
// (another call's 429 within slowEvery).
func TestA429RestartsRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewTokenBucket(10, 1)
		lim.Slow()
		time.Sleep(600 * time.Millisecond)
		lim.Slow() // same overload: rate stays 5, recovery starts over
		if r := lim.Rate(); r != 5 {
			t.Fatalf("rate %v, want 5", r)
		}
		time.Sleep(600 * time.Millisecond)
		lim.Succeeded()
		if r := lim.Rate(); r != 5 {
			t.Fatalf("rate %v 0.6 s after the last 429, want 5", r)
		}
		time.Sleep(400 * time.Millisecond)
		lim.Succeeded()
		if r := lim.Rate(); r != 6 {
			t.Fatalf("rate %v a second after the last 429, want 6", r)
		}
	})
}

// The token bucket's pace follows the adaptive rate: Slow halves it,
// Succeeded's recovery raises it.
func TestTokenBucketPaceFollowsSlowAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := NewTokenBucket(10, 1)
		wantTimes(t, waitTimes(t, lim, 3), 0, 100*time.Millisecond, 200*time.Millisecond)
		lim.Slow()
		got := waitTimes(t, lim, 3)
		if got[2]-got[1] != 200*time.Millisecond {
			t.Fatalf("after a 429 calls came at %v, want 200ms apart", got)
		}
		time.Sleep(time.Second)
		lim.Succeeded() // 6/s
		time.Sleep(time.Second)
		got = waitTimes(t, lim, 3)
		if d := got[2] - got[1]; d < 166*time.Millisecond || d > 167*time.Millisecond {
			t.Fatalf("after one recovery step calls came at %v, want 1/6 s apart", got)
		}
	})
}

// No limit: Wait admits at once, unless the context is done.
func TestUnlimitedAdmitsAtOnceUnlessCancelled(t *testing.T) {
	lim := NewTokenBucket(0, 1)
	if err := lim.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	lim.Slow()
	lim.Succeeded()
	if r := lim.Rate(); r != 0 {
		t.Errorf("rate %v, want 0", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := lim.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait on a cancelled context = %v", err)
	}
}

// A sliding-window service's limiter (Service.NewLimiter) keeps the jitter
// margin: at 3 per second its calls are 350 ms apart, the 4th at 1.05 s.
func TestSlidingWindowServiceKeepsItsJitterMargin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := testReg.Service(TomTicket).NewLimiter(ProviderConfig{RateLimit: 3, Burst: 1})
		wantTimes(t, waitTimes(t, lim, 4), 0, 350*time.Millisecond, 700*time.Millisecond, 1050*time.Millisecond)
		// A burst above 1 or a fractional rate gets a token bucket.
		for _, cfg := range []ProviderConfig{{RateLimit: 3, Burst: 2}, {RateLimit: 2.5, Burst: 1}, {RateLimit: 0.5, Burst: 1}} {
			if _, ok := testReg.Service(TomTicket).NewLimiter(cfg).(*bucket); !ok {
				t.Errorf("%+v: not a token bucket", cfg)
			}
		}
		if _, ok := testReg.Service(TomTicket).NewLimiter(ProviderConfig{RateLimit: 1, Burst: 0}).(*window); !ok {
			t.Errorf("rate 1, burst 0: not a window")
		}
	})
}
