package operation

import (
	"sync"

	"github.com/reconcile-dev/reconcile/engine"
)

// NewRecorder returns the recorder an apply uses: each record is written to
// the journal (durable once Record returns), then folded into st, the state
// in memory that is saved when the apply ends. It is safe for concurrent
// use; st must not be read until the apply is over.
func NewRecorder(journal engine.Journal, st *engine.State) engine.Recorder {
	return &foldingRecorder{journal: journal, state: st}
}

type foldingRecorder struct {
	mu      sync.Mutex
	journal engine.Journal
	state   *engine.State
}

func (r *foldingRecorder) Record(rec engine.Record) error {
	if err := r.journal.Record(rec); err != nil {
		return err
	}
	r.mu.Lock()
	r.state.ApplyRecord(rec)
	r.mu.Unlock()
	return nil
}
