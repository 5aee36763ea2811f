package engine

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the calls to one provider. Wait blocks until a call may
// start. After a 429, Slow lowers the rate; Succeeded lets it recover
// gradually to the configured rate.
type Limiter interface {
	Wait(ctx context.Context) error
	Slow()
	Succeeded()
	// Rate is the current rate in calls per second.
	Rate() float64
}

// Adaptive rate control: a 429 halves the rate (down to minFraction of
// the configured one), at most once per slowEvery, since the 429s of calls
// that were already in flight report the same overload; every recoverAfter
// recoverEvery of successes without a 429 raise it by recoverStep of the
// configured rate. Recovery is paced by time, not by a count of successes,
// so that a slow service (TomTicket's 3/s) recovers as fast as a quick one.
const (
	minFraction  = 0.25
	slowEvery    = time.Second
	recoverEvery = time.Second
	recoverStep  = 0.1
)

// adaptive holds the shared recovery logic.
type adaptive struct {
	mu      sync.Mutex
	max     float64
	cur     float64
	slowed  time.Time // the last 429 that lowered the rate
	changed time.Time // the last 429 or recovery step: recovery counts from it
}

func (a *adaptive) slow() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.slowed.IsZero() || now.Sub(a.slowed) >= slowEvery {
		a.slowed = now
		a.cur = max(a.cur/2, a.max*minFraction)
	}
	a.changed = now // recovery starts over from the last 429
	return a.cur
}

// succeeded returns the new rate and whether it changed.
func (a *adaptive) succeeded() (float64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur >= a.max {
		return a.cur, false
	}
	now := time.Now()
	if now.Sub(a.changed) < recoverEvery {
		return a.cur, false
	}
	a.changed = now
	a.cur = min(a.max, a.cur+a.max*recoverStep)
	return a.cur, true
}

func (a *adaptive) rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// bucket is a token bucket: rate r, burst b.
type bucket struct {
	adaptive
	l *rate.Limiter
}

// NewTokenBucket returns a token-bucket limiter (golang.org/x/time/rate):
// perSecond calls per second on average, bursts of up to burst. A rate of 0
// or less means no limit.
func NewTokenBucket(perSecond float64, burst int) Limiter {
	if perSecond <= 0 {
		return unlimited{}
	}
	return &bucket{adaptive: adaptive{max: perSecond, cur: perSecond}, l: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
}

func (b *bucket) Wait(ctx context.Context) error { return b.l.Wait(ctx) }
func (b *bucket) Slow()                          { b.l.SetLimit(rate.Limit(b.slow())) }
func (b *bucket) Rate() float64                  { return b.rate() }
func (b *bucket) Succeeded() {
	if r, changed := b.succeeded(); changed {
		b.l.SetLimit(rate.Limit(r))
	}
}

// window allows at most n calls in any sliding window of length per (plus a
// margin for network jitter), and spaces calls by at least per/n: burst 1.
// A token bucket cannot promise "at most n in any second" (rate r with
// burst b lets b + r through in one second); this can.
type window struct {
	adaptive
	mu     sync.Mutex
	n      int
	per    time.Duration
	margin time.Duration
	sent   []time.Time // start times of the last n calls, oldest first
	next   time.Time   // earliest start of the next call
}

// NewSlidingWindow returns a limiter that lets at most n calls start in any
// window of per+margin, spaced by at least (per+margin)/n.
func NewSlidingWindow(n int, per, margin time.Duration) Limiter {
	return &window{adaptive: adaptive{max: float64(n), cur: float64(n)}, n: n, per: per, margin: margin}
}

// DefaultWindowMargin is the jitter margin of a sliding window's default
// shape (Service.NewLimiter): network jitter must not let a call land inside
// the previous second at the service.
const DefaultWindowMargin = 50 * time.Millisecond

func (w *window) Wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		now := time.Now()
		span := w.per + w.margin
		// The current (possibly lowered) rate decides how many calls the
		// window admits and how far apart they are.
		allowed := max(1, int(w.rate()*float64(w.n)/w.max+1e-9))
		gap := time.Duration(float64(span) / w.rate())
		at := w.next
		if len(w.sent) >= allowed {
			oldest := w.sent[len(w.sent)-allowed]
			at = later(at, oldest.Add(span))
		}
		if !at.After(now) {
			w.sent = append(w.sent, now)
			if len(w.sent) > w.n {
				w.sent = w.sent[len(w.sent)-w.n:]
			}
			w.next = now.Add(gap)
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		t := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (w *window) Slow()         { w.slow() }
func (w *window) Succeeded()    { w.succeeded() }
func (w *window) Rate() float64 { return w.rate() }

type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }
func (unlimited) Slow()                          {}
func (unlimited) Succeeded()                     {}
func (unlimited) Rate() float64                  { return 0 }
