package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// A request whose wait for a slot is cancelled is not admitted, fails with
// its context's error (not ErrStopped: apply was not stopped), and takes no
// slot.
func TestAdmitCancelledWhileWaitingForSlotFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 2)
		stop, stopNow := context.WithCancel(context.Background())
		defer stopNow()
		g := &gate{slots: s, index: 1, lim: &countingLimiter{}, stop: stop}
		release, err := g.Admit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := g.Admit(ctx)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Admit cancelled while waiting = %v, want context.Canceled", err)
		}
		if s.queued != 0 || len(s.waiting[1]) != 0 {
			t.Errorf("the cancelled request is still queued: %d", s.queued)
		}
		release()
		if s.free != 1 {
			t.Errorf("%d free slots, want 1", s.free)
		}
		// The freed slot admits the next request at once.
		r2, err := g.Admit(context.Background())
		if err != nil || s.free != 0 {
			t.Fatalf("Admit after release: %v, %d free", err, s.free)
		}
		r2()
	})
}

// An Admit on a context already done admits nothing and takes no slot.
func TestAdmitOnADoneContextTakesNoSlot(t *testing.T) {
	s := newSlots(1, 1)
	g := &gate{slots: s, lim: &countingLimiter{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Admit(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit = %v", err)
	}
	if s.free != 1 {
		t.Errorf("%d free slots, want 1", s.free)
	}
}

// A failed wait for the token gives its slot back.
func TestAdmitReleasesTheSlotWhenTheTokenWaitFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 1)
		stop, stopNow := context.WithCancel(context.Background())
		lim := &countingLimiter{block: true}
		g := &gate{slots: s, lim: lim, stop: stop}
		done := make(chan error, 1)
		go func() {
			_, err := g.Admit(context.Background())
			done <- err
		}()
		synctest.Wait()
		if s.free != 0 {
			t.Fatalf("%d free slots while waiting for the token, want 0", s.free)
		}
		stopNow()
		if err := <-done; err != ErrStopped {
			t.Fatalf("Admit stopped while waiting for its token = %v, want ErrStopped", err)
		}
		if s.free != 1 {
			t.Errorf("%d free slots after the failed wait, want 1", s.free)
		}
	})
}

// A slot granted just as its waiter's context ends is passed on to the
// next waiter, not lost.
func TestSlotGrantedAsTheContextEndsIsPassedOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(1, 1)
		if err := s.acquire(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() { first <- s.acquire(ctx, 0) }()
		synctest.Wait()
		second := make(chan error, 1)
		go func() { second <- s.acquire(context.Background(), 0) }()
		synctest.Wait()
		// Grant the slot to the first waiter and end its context before it
		// runs: whichever the select picks, the slot must reach someone.
		s.mu.Lock()
		cancel()
		s.mu.Unlock()
		s.release()
		err1 := <-first
		if err1 == nil {
			s.release()
		}
		if err := <-second; err != nil {
			t.Fatalf("second waiter: %v", err)
		}
		s.release()
		if s.free != 1 || s.queued != 0 {
			t.Errorf("free %d, queued %d after all released; want 1, 0", s.free, s.queued)
		}
	})
}
