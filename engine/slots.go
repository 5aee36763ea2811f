package engine

import (
	"context"
	"sync"
)

// slots is the -parallelism cap: n requests in flight across all services.
// A free slot goes to the services' waiting requests in turn (round robin
// between services, first come first served within one), so a slow service
// that fills the cap cannot starve a quick one: at -parallelism 4 with a
// BonifiQ at 700 ms a request, TomTicket still gets a slot every third of a
// second. Waiting on it is durable blocking inside testing/synctest.
type slots struct {
	mu      sync.Mutex
	free    int
	waiting [][]chan struct{} // by service index
	next    int               // the service whose turn is next
	queued  int
}

func newSlots(n, services int) *slots {
	return &slots{free: n, waiting: make([][]chan struct{}, services)}
}

// acquire takes a slot for service i, waiting for one when none is free.
func (s *slots) acquire(ctx context.Context, i int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.free > 0 && s.queued == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{}, 1)
	s.waiting[i] = append(s.waiting[i], ch)
	s.queued++
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		q := s.waiting[i]
		for j, c := range q {
			if c == ch {
				s.waiting[i] = append(q[:j:j], q[j+1:]...)
				s.queued--
				s.mu.Unlock()
				return ctx.Err()
			}
		}
		s.mu.Unlock()
		// Granted while the context ended: pass the slot on.
		<-ch
		s.release()
		return ctx.Err()
	}
}

// release frees a slot, handing it to the next service in turn that has a
// request waiting.
func (s *slots) release() {
	s.mu.Lock()
	n := len(s.waiting)
	for k := range n {
		i := (s.next + k) % n
		if q := s.waiting[i]; len(q) > 0 {
			ch := q[0]
			s.waiting[i] = q[1:]
			s.queued--
			s.next = (i + 1) % n
			s.mu.Unlock()
			ch <- struct{}{}
			return
		}
	}
	s.free++
	s.mu.Unlock()
}

// gate admits the requests of one service: a slot, then a token.
type gate struct {
	slots *slots
	index int // the service's registry index
	lim   Limiter
	stop  context.Context // done once apply is asked to start no new calls
}

func (g *gate) Admit(ctx context.Context) (func(), error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if g.stop != nil {
		defer context.AfterFunc(g.stop, cancel)()
	}
	fail := func(err error) error {
		if ctx.Err() == nil && g.stop != nil && g.stop.Err() != nil {
			return ErrStopped
		}
		return err
	}
	if err := g.slots.acquire(wctx, g.index); err != nil {
		return nil, fail(err)
	}
	if err := g.lim.Wait(wctx); err != nil {
		g.slots.release()
		return nil, fail(err)
	}
	var once sync.Once
	return func() { once.Do(g.slots.release) }, nil
}
